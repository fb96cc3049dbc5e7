"""The `garden` command line."""
from __future__ import annotations

import os
import sys

if sys.platform.startswith("linux"):  # read when pyarrow is first imported: before any import below (garden.malloc)
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import click  # noqa: E402

from garden import __version__  # noqa: E402
from garden.recipe import RecipeError  # noqa: E402


def _fail(message: str, code: int = 2) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="garden")
def main() -> None:
    """Garden: raw text corpora → training-ready token shards → pretraining."""


@main.command()
@click.argument("recipe_path", metavar="RECIPE.yaml", type=click.Path(dir_okay=False))
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (overrides the recipe).")
@click.option("--output", "-o", type=click.Path(file_okay=False), help="Output directory (overrides the recipe).")
@click.option("--no-resume", is_flag=True, help="Start from scratch instead of skipping completed shards.")
@click.option("--strict", is_flag=True, help="Exit non-zero if any record was quarantined.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", help="Ray cluster address (ray://host:port or auto), with --executor ray.")
@click.option("--force", is_flag=True,
              help="Write into a non-empty folder that is not a Garden run folder (its files are left alone).")
@click.option("--verify-inputs", is_flag=True,
              help="Identify inputs by a hash of all their bytes, not a sampled fingerprint (reads every input once more).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--warn-source-loss", type=click.FloatRange(0, 1), default=0.5, show_default=True, metavar="SHARE",
              help="Warn at the end when a source lost more than this share of its documents (rejected or "
                   "quarantined), with its top reasons; 1 turns the warning off.")
def run(recipe_path: str, workers: int | None, output: str | None, no_resume: bool, strict: bool,
        executor: str, address: str | None, force: bool, verify_inputs: bool, quiet: bool,
        warn_source_loss: float) -> None:
    """Run a recipe: read inputs, run the pipeline, write data/, rejected/, quarantine/, stats.json."""
    from garden.api import StrictError, execute_recipe
    from garden.executor.empty import EmptyStageError
    from garden.executor.pool import TaskError
    from garden.messages import os_error_message
    from garden.executor.stats import AccountingError
    from garden.progress import Progress
    from garden.io.identity import InputChangedError
    from garden.malloc import keep_freed_memory
    from garden.recipe import load_recipe
    from garden.run_folder import OwnershipError
    from garden.run_lock import LockedError
    from garden.summary import print_summary

    keep_freed_memory()  # this process reads shards itself with one worker, and forks the others
    try:
        recipe = load_recipe(recipe_path, overrides={"workers": workers, "output": output})
    except RecipeError as exc:
        _fail(str(exc))
    progress = Progress(enabled=not quiet)
    try:
        stats = execute_recipe(recipe, resume=not no_resume, strict=strict, executor=executor, address=address,
                               progress=progress, force=force, verify_inputs=verify_inputs)
    except (OwnershipError, LockedError) as exc:
        _fail(str(exc))
    except InputChangedError as exc:
        _fail(f"{exc}\nrun the same command again once the input is stable: the changed file's shards are recomputed", 1)
    except StrictError as exc:
        _fail(str(exc), 1)
    except AccountingError as exc:
        _fail(str(exc), 3)
    except TaskError as exc:
        _fail(f"{exc}\nfix the cause and run the same command again: completed shards are kept", 1)
    except EmptyStageError as exc:
        _print_stopped_summary(recipe.output, quiet, warn_source_loss)
        _fail(f"{exc}\nsee {recipe.output}/report.html", 4)
    except KeyboardInterrupt:
        _fail("interrupted; run the same command again to resume", 130)
    except OSError as exc:  # disk full, permissions, read-only file system: a message, not a traceback
        _fail(os_error_message(exc, recipe.output), 1)
    if not quiet:
        print_summary(stats, recipe.output, warn_source_loss=warn_source_loss)


def _print_stopped_summary(run_dir: str, quiet: bool, warn_source_loss: float) -> None:
    """The summary table of a run that stopped for lack of documents (stats.json is written)."""
    from garden.executor.stats import Stats
    from garden.io import fs
    from garden.summary import print_summary

    path = fs.join(run_dir, "stats.json")
    if not quiet and fs.exists(path):
        print_summary(Stats.load(path), run_dir, warn_source_loss=warn_source_loss)


@main.command()
@click.argument("recipe_path", metavar="RECIPE.yaml", type=click.Path(dir_okay=False))
def validate(recipe_path: str) -> None:
    """Check a recipe (operators, parameters, types, inputs) without running it."""
    from garden.recipe import load_recipe

    try:
        recipe = load_recipe(recipe_path)
    except RecipeError as exc:
        _fail(str(exc))
    n_files = sum(len(i.files()) for i in recipe.inputs)
    click.echo(f"{recipe_path}: ok — {len(recipe.pipeline)} steps, {n_files} input files, output {recipe.output}")


@main.command()
@click.argument("run_dir")
def report(run_dir: str) -> None:
    """(Re)build RUN_DIR/report.html from a run's stats.json, rejected/ and quarantine/ (a path or URL)."""
    from garden.io import fs
    from garden.run_report import write_run_report

    if not fs.isdir(run_dir):
        _fail(f"{run_dir}: no such run directory")
    click.echo(write_run_report(run_dir))


@main.command()
@click.argument("name", required=False)
def ops(name: str | None) -> None:
    """List registered operators with kind, parameters, types and defaults."""
    from garden import registry

    all_ops = registry.all_operators()
    if name:
        try:
            chosen = {name: registry.get(name)}
        except KeyError as exc:
            _fail(exc.args[0])
    else:
        chosen = all_ops
    for op_name, cls in chosen.items():
        click.secho(f"{op_name}", bold=True, nl=False)
        click.echo(f"  [{cls.kind}]  {cls.summary()}")
        for p in cls.params():
            doc = f"  — {p.doc}" if p.doc else ""
            low, high = cls.param_bounds.get(p.name, (None, None))
            bounds = f" [{'' if low is None else low}..{'' if high is None else high}]" if (low, high) != (None, None) else ""
            click.echo(f"    {p.name}: {p.type_name} = {p.default!r}{p.languages_text}{bounds}{doc}")
        if name and cls.__doc__:
            click.echo("\n" + "\n".join("    " + line.strip() for line in cls.__doc__.strip().splitlines()))
    if not name and registry.UNAVAILABLE:
        for mod, why in registry.UNAVAILABLE.items():
            click.echo(f"(operators.{mod} unavailable: {why})", err=True)


def _register_optional_commands() -> None:
    """Commands whose modules live elsewhere; each imports its heavy dependencies lazily."""
    import importlib

    for module, attr in (("trainer.cli", "train_command"), ("garden.commands.tokenizer", "tokenizer"),
                         ("garden.commands.classifier", "classifier"), ("garden.commands.blend", "blend"),
                         ("garden.commands.analyze", "analyze"), ("trainer.eval_cli", "eval_command"),
                         ("trainer.model_commands", "export_command"),
                         ("trainer.model_commands", "generate_command"),
                         ("trainer.plan.cli", "plan"), ("trainer.plan.cli", "ladder"),
                         ("garden.commands.lm", "lm")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not (module + ".").startswith(exc.name + "."):  # present but broken: say so
                raise
            continue
        main.add_command(getattr(mod, attr))


_register_optional_commands()
