"""`garden tokenizer train|encode|stats`: the tokenizer operators without writing a recipe."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import click


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


def _inputs(paths: tuple[str, ...], source: str | None) -> list[dict]:
    """Each input file is its own source (file name without extensions) unless --source is given."""
    out = []
    for p in paths:
        name = os.path.basename(p).split(".")[0]
        out.append({"path": os.path.abspath(p), "source": source or name})
    return out


def _run(inputs: list[dict], pipeline: list[dict], workers: int, workdir: str, quiet: bool = True) -> dict:
    from garden.api import run_recipe
    from garden.progress import Progress
    from garden.recipe import RecipeError, recipe_from_dict

    try:
        recipe = recipe_from_dict({"name": "tokenizer", "inputs": inputs, "output": workdir, "workers": workers,
                                   "pipeline": pipeline})
    except RecipeError as exc:
        _fail(str(exc))
    return run_recipe(recipe, progress=Progress(enabled=not quiet))


@click.group()
def tokenizer() -> None:
    """Train, apply and measure byte-level BPE tokenizers (HF tokenizers)."""


@tokenizer.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Directory for tokenizer.json + configs.")
@click.option("--vocab-size", default=32000, show_default=True, type=int)
@click.option("--min-frequency", default=2, show_default=True, type=int)
@click.option("--sample-docs", type=int, help="Train on a seeded sample of this many documents.")
@click.option("--balance-sources", is_flag=True, help="Same number of sampled documents from each input file.")
@click.option("--special-token", "special_tokens", multiple=True, help="Extra special token (repeatable).")
@click.option("--eod-token", default="<|endoftext|>", show_default=True)
@click.option("--cjk", type=click.Choice(["run", "char", "none"]), default="run", show_default=True,
              help="Isolate runs of CJK characters (run), single characters (char), or nothing.")
@click.option("--digits", type=click.Choice(["individual", "groups3", "none"]), default="individual", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--source", help="One source name for all inputs (default: one per input file).")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(min=1))
def train(inputs, output, vocab_size, min_frequency, sample_docs, balance_sources, special_tokens, eod_token, cjk,
          digits, seed, source, workers) -> None:
    """Train a tokenizer on INPUTS (jsonl/jsonl.gz/jsonl.zst/parquet) and print its compression report."""
    from operators.tokens import format_table

    params = {"vocab_size": vocab_size, "min_frequency": min_frequency, "sample_docs": sample_docs,
              "balance_sources": balance_sources, "special_tokens": list(special_tokens), "eod_token": eod_token,
              "pre_tokenizer": {"cjk": cjk, "digits": digits}, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="garden-tok-") as tmp:
        _run(_inputs(inputs, source), [{"train_tokenizer": params}], workers, os.path.join(tmp, "run"))
        src = os.path.join(tmp, "run", "tokenizer")
        os.makedirs(output, exist_ok=True)
        for name in os.listdir(src):
            shutil.copy2(os.path.join(src, name), os.path.join(output, name))
    with open(os.path.join(output, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    click.echo(f"{output}/tokenizer.json: vocab {report['vocab_size']}, EOD {report['eod_token']!r} = "
               f"{report['eod_id']}, trained on {report['trained_on']['documents']} documents")
    click.echo(format_table(report["compression"]))
    click.echo(f"round trip: {report['documents_checked'] - report['round_trip_failures']}/"
               f"{report['documents_checked']} documents exact")


@tokenizer.command()
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.argument("text", required=False)
@click.option("--file", "file_", type=click.File("r", encoding="utf-8"), help="Read the text from a file ('-' = stdin).")
@click.option("--tokens", "show_tokens", is_flag=True, help="One line per token: id, token string, decoded text.")
def encode(tokenizer_path, text, file_, show_tokens) -> None:
    """Encode TEXT with TOKENIZER (tokenizer.json, a directory, or GPT-2 vocab.json/encoder.json)."""
    from operators.tokens import load_tokenizer

    if text is None:
        if file_ is None:
            _fail("give TEXT or --file")
        text = file_.read()
    try:
        tok, info = load_tokenizer(tokenizer_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    ids = tok.encode(text, add_special_tokens=False).ids
    if show_tokens:
        for i in ids:
            click.echo(f"{i}\t{tok.id_to_token(i)}\t{tok.decode([i])!r}")  # token string, decoded text
    else:
        click.echo(" ".join(map(str, ids)))
    nbytes = len(text.encode("utf-8"))
    click.echo(f"{len(ids)} tokens, {len(text)} chars, {nbytes} bytes: "
               f"{nbytes / max(len(ids), 1):.2f} bytes/token, {len(text) / max(len(ids), 1):.2f} chars/token; "
               f"round trip {'ok' if tok.decode(ids) == text else 'FAILED'}", err=True)


@tokenizer.command()
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--docs", default=1000, show_default=True, type=int, help="Documents per input file (first N).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def stats(tokenizer_path, inputs, docs, as_json) -> None:
    """Bytes and characters per token per source and language, and the round-trip check, on INPUTS."""
    from garden.io.inputs import plan_inputs
    from garden.io.reader import ReadResult, read_shard
    from garden.recipe import InputSpec
    from operators.tokens import load_tokenizer
    from operators.tokens import CompressionReport, format_table

    try:
        tok, _ = load_tokenizer(tokenizer_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    report = CompressionReport()
    for spec in _inputs(inputs, None):
        taken: list[dict] = []
        for shard in plan_inputs([InputSpec(path=spec["path"], source=spec["source"])], 1 << 40):
            for batch in read_shard(shard, ReadResult(), 1000):
                taken.extend(batch[: docs - len(taken)])
                if len(taken) >= docs:
                    break
        report.add(tok, taken)
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(summary["compression"]))
        click.echo(f"round trip: {summary['documents_checked'] - summary['round_trip_failures']}/"
                   f"{summary['documents_checked']} documents exact")
    if summary["round_trip_failures"]:
        sys.exit(1)
