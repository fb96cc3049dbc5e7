"""`garden analyze`: statistics, language mix, near-duplicate rate and threshold calibration of a corpus."""
from __future__ import annotations

import sys

import click


@click.command()
@click.argument("paths", nargs=-1, metavar="PATH_OR_GLOB...")
@click.option("--sample", "-n", "sample_size", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Documents to measure (deterministic hash sample; every document is still counted).")
@click.option("--recipe", "-r", type=click.Path(dir_okay=False, exists=True),
              help="Calibrate this recipe's filter thresholds on the sample (and analyse its inputs if no PATH).")
@click.option("--out", "-o", "out_dir", default="analysis", show_default=True, type=click.Path(file_okay=False),
              help="Directory for analysis.json, report.html and sample_stats.parquet.")
@click.option("--tokenizer", "-t", type=click.Path(dir_okay=False, exists=True),
              help="tokenizer.json (HF tokenizers) to count tokens with.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sample seed.")
@click.option("--target-drop", "targets", multiple=True, metavar="OP.PARAM=SHARE",
              help="Suggest the threshold that drops SHARE of the sample, e.g. length_filter.min_words=0.1 (repeatable); "
                   "perplexity.max_percentile=0.2 or perplexity.max_perplexity=0.2 with --lm (no recipe needed).")
@click.option("--write-recipe", type=click.Path(dir_okay=False),
              help="Write a copy of --recipe with the suggested thresholds.")
@click.option("--calibrate", "calibrate_only", multiple=True, metavar="OP[.PARAM]",
              help="Calibrate only these operators/parameters (repeatable; default: every numeric filter parameter).")
@click.option("--calibration-docs", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Sampled documents used for calibration (each filter runs once per grid value on them).")
@click.option("--dup-threshold", type=click.FloatRange(0, 1), default=0.8, show_default=True,
              help="Jaccard similarity above which two documents count as near-duplicates.")
@click.option("--text-field", default="text", show_default=True, help="Text field of raw JSONL/parquet input.")
@click.option("--lm", "lm", multiple=True, metavar="[LANG=]MODEL",
              help="Perplexity of each sampled document under this n-gram LM (train_lm / garden lm train, ARPA); "
                   "LANG= for the documents of one language (repeatable).")
@click.option("--detect-lang", is_flag=True,
              help="Label languages with language ID even where the input has a lang field, and report where they disagree.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def analyze(paths: tuple[str, ...], sample_size: int, recipe: str | None, out_dir: str, tokenizer: str | None,
            workers: int, seed: int, targets: tuple[str, ...], write_recipe: str | None,
            calibrate_only: tuple[str, ...], calibration_docs: int,
            dup_threshold: float, text_field: str, lm: tuple[str, ...], detect_lang: bool, quiet: bool) -> None:
    """Analyse raw input (jsonl, jsonl.gz, jsonl.zst, parquet) or a run's data/: writes analysis.json + report.html."""
    from garden.analysis.analyze import run_analysis
    from garden.messages import os_error_message, printable
    from garden.analysis.perplexity import parse_lm_options
    from garden.progress import Progress
    from garden.recipe import RecipeError

    if not paths and not recipe:
        raise click.UsageError("give input paths/globs or --recipe")
    progress = Progress(enabled=not quiet)
    try:
        result = run_analysis(list(paths), out_dir, sample_size=sample_size, seed=seed, workers=workers,
                              tokenizer=tokenizer, recipe_path=recipe, targets=list(targets),
                              write_recipe_path=write_recipe, calibration_docs=calibration_docs,
                              calibrate_only=list(calibrate_only),
                              dup_threshold=dup_threshold, text_field=text_field, progress=progress,
                              lm=parse_lm_options(list(lm)), detect_lang=detect_lang)
    except (RecipeError, ValueError) as exc:
        _fail(printable(str(exc)), 2)
    except OSError as exc:  # no such input (2), or disk full / permissions while writing (1): one line each
        if exc.errno is None:  # our own "no files match ..." messages
            _fail(printable(str(exc)), 2)
        _fail(os_error_message(exc, out_dir, resumable=False), 1)
    finally:
        progress.close()
    if not quiet:
        _print_summary(result, out_dir)


def _fail(message: str, code: int) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _print_summary(a: dict, out_dir: str) -> None:
    tot, near = a["totals"], a["near_duplicates"]
    click.echo(f"{tot['docs']:,} documents, {tot['chars']:,} characters in {len(tot['sources'])} sources; "
               f"{a['sample']['docs']:,} sampled ({100 * a['sample']['fraction']:.1f}%)", err=True)
    langs = ", ".join(f"{k} {100 * v:.1f}%" for k, v in list(a["languages"]["shares"].items())[:6])
    click.echo(f"languages: {langs}", err=True)
    vs = a["languages"].get("input_vs_detected")
    if vs:
        pairs = ", ".join(f"{p['input']}→{p['detected']} {p['docs']}" for p in vs["pairs"][:5])
        click.echo(f"language ID disagrees with the input's label on {vs['disagree']:,} of {vs['docs']:,} sampled "
                   f"documents ({100 * vs['share']:.1f}%)" + (f": {pairs}" if pairs else ""), err=True)
    click.echo(f"near-duplicates: {100 * near['sample_dup_rate']:.1f}% of the sample "
               f"(corpus estimate {100 * near['corpus_dup_rate_estimate']:.1f}%)", err=True)
    for rule in (a.get("calibration") or {}).get("rules", []):
        if rule["dropped"]:
            top = ", ".join(f"{r} {100 * k / rule['docs']:.1f}%" for r, k in list(rule["reasons"].items())[:4])
            click.echo(f"{rule['op']} drops {100 * rule['dropped'] / rule['docs']:.1f}% of the sample: {top}", err=True)
    for c in (a.get("calibration") or {}).get("curves", []):
        if c.get("suggested") is not None:
            warn = "" if c.get("reachable") else "  — target not reachable: other rules of this operator drop more"
            click.echo(f"suggested {c['op']}.{c['param']} = {c['suggested']} "
                       f"(drops {100 * c['suggested_drop']:.1f}%, target {100 * c['target']:.1f}%){warn}", err=True)
            if c.get("cutoffs"):
                click.echo("  perplexity cut-offs: " + ", ".join(f"{k} {v}" for k, v in c["cutoffs"].items()), err=True)
    for note in a["notes"].values():
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {out_dir}/analysis.json, {out_dir}/report.html", err=True)
