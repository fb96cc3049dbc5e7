"""Programmatic entry points behind `garden run` (the CLI is a thin layer over these)."""
from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import yaml

from garden import __version__
from garden.executor.empty import EmptyStageError
from garden.executor.runner import Run
from garden.executor.stats import AccountingError, Stats
from garden.executor.tasks import Executor
from garden.io import fs
from garden.io.writer import atomic_write_bytes
from garden.progress import Progress
from garden.recipe import Recipe
from garden.run_folder import RunFolder
from garden.run_lock import RunLock

LOCK_PACKAGES = ("pyarrow", "datasketch", "fasttext-modern", "regex", "tokenizers", "numpy", "pyyaml", "ray")


class StrictError(RuntimeError):
    """--strict and some records were quarantined."""


def package_versions() -> dict[str, str]:
    out = {"garden": __version__, "python": platform.python_version()}
    for name in LOCK_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_lock(recipe: Recipe) -> None:
    lock = recipe.to_dict()
    lock["versions"] = package_versions()
    text = f"# Resolved from {recipe.path}: every default filled in, with the package versions used.\n"
    text += yaml.safe_dump(lock, sort_keys=False, allow_unicode=True)
    atomic_write_bytes(fs.join(recipe.output, "recipe.lock.yaml"), text.encode())


def write_report(run_dir: str, progress: Progress) -> str | None:
    """report.html next to stats.json; a broken report is a warning, never a failed run."""
    from garden.run_report import write_run_report

    try:
        return write_run_report(run_dir)
    except Exception as exc:  # the data is written and accounted for already
        progress.log(f"warning: could not write report.html: {type(exc).__name__}: {exc}")
        return None


def make_executor(name: str, workers: int, progress: Progress, address: str | None = None) -> Executor:
    if name == "local":
        from garden.executor.pool import LocalExecutor

        return LocalExecutor(workers, lambda stage, docs, nbytes: progress.advance(docs, nbytes))
    if name == "ray":
        from garden.executor.ray_executor import RayExecutor

        return RayExecutor(workers, progress, address)
    raise ValueError(f"unknown executor '{name}' (local or ray)")


def run_recipe(recipe: Recipe, resume: bool = True, strict: bool = False, executor: str = "local",
               address: str | None = None, progress: Progress | None = None, force: bool = False,
               verify_inputs: bool = False) -> dict:
    """Run a validated recipe; returns stats.json's content (`Stats.to_dict()`), plus `report`,
    the path of report.html when it was written. `execute_recipe` returns the typed `Stats`."""
    stats, report = _execute(recipe, resume, strict, executor, address, progress, force, verify_inputs)
    out = stats.to_dict()
    if report:
        out["report"] = report
    return out


def execute_recipe(recipe: Recipe, resume: bool = True, strict: bool = False, executor: str = "local",
                   address: str | None = None, progress: Progress | None = None, force: bool = False,
                   verify_inputs: bool = False) -> Stats:
    """Run a validated recipe; returns its accounting (what stats.json holds)."""
    return _execute(recipe, resume, strict, executor, address, progress, force, verify_inputs)[0]


def _execute(recipe: Recipe, resume: bool, strict: bool, executor: str, address: str | None,
             progress: Progress | None, force: bool, verify_inputs: bool) -> tuple[Stats, str | None]:
    """The output folder is claimed (or refused) and locked before any work; everything Garden
    removes there afterwards goes through RunFolder, which removes only Garden's own files."""
    progress = progress or Progress(enabled=False)
    folder = RunFolder(recipe.output, progress.log)
    # The local pool starts before the run lock's lease thread, so that its workers can be forked
    # (garden.pool); Ray connects only once the folder is claimed and locked.
    early = make_executor(executor, recipe.workers, progress, address) if executor == "local" else None
    try:
        folder.claim(recipe.inputs, force=force)
        with RunLock(recipe.output, progress.log):
            if not resume:
                folder.remove_outputs()
            folder.remove_temp_files()
            write_lock(recipe)
            ex = early or make_executor(executor, recipe.workers, progress, address)
            try:
                stats = Run(recipe, ex, progress, folder, verify_inputs=verify_inputs).execute()
            except (AccountingError, EmptyStageError):
                write_report(recipe.output, progress)  # where the counts diverge, or the step that left nothing
                raise
            finally:
                ex.close()
                progress.close()
            report = write_report(recipe.output, progress)
    except BaseException:
        if early is not None:
            early.close()  # a refused claim or lock: the workers go too (a second close does nothing)
        raise
    if strict and stats.quarantined_docs:
        raise StrictError(f"--strict: {stats.quarantined_docs} records quarantined (see {recipe.output}/quarantine/)")
    if strict and stats.duplicate_ids.count:
        raise StrictError(f"--strict: {stats.duplicate_ids.count} documents share an id across shards "
                          f"(e.g. {', '.join(stats.duplicate_ids.examples)})")
    return stats, report
