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
    """Train, apply, measure and compare subword tokenizers: byte-level BPE, unigram, WordPiece (HF tokenizers)."""


@tokenizer.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Directory for tokenizer.json + configs.")
@click.option("--model", type=click.Choice(["bpe", "unigram", "wordpiece"]), default="bpe", show_default=True,
              help="bpe: byte-level (GPT-style); unigram: SentencePiece-style with byte fallback; "
                   "wordpiece: BERT-style, for encoders (cannot round-trip).")
@click.option("--vocab-size", default=32000, show_default=True, type=int)
@click.option("--min-frequency", default=2, show_default=True, type=int)
@click.option("--sample-docs", type=int, help="Train on a seeded sample of this many documents.")
@click.option("--balance-sources", is_flag=True, help="Same number of sampled documents from each input file.")
@click.option("--special-token", "special_tokens", multiple=True, help="Extra special token (repeatable).")
@click.option("--eod-token", default="<|endoftext|>", show_default=True)
@click.option("--cjk", type=click.Choice(["run", "char", "none"]), default="run", show_default=True,
              help="Isolate runs of CJK characters (run), single characters (char), or nothing.")
@click.option("--digits", type=click.Choice(["individual", "groups3", "none"]), default="individual", show_default=True)
@click.option("--character-coverage", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="unigram: share of training characters with their own piece (default 0.9995); the rest "
                   "are spelled as byte pieces.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--source", help="One source name for all inputs (default: one per input file).")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(min=1))
def train(inputs, output, model, vocab_size, min_frequency, sample_docs, balance_sources, special_tokens, eod_token,
          cjk, digits, character_coverage, seed, source, workers) -> None:
    """Train a tokenizer on INPUTS (jsonl/jsonl.gz/jsonl.zst/parquet) and print its compression report."""
    from operators.tokens import format_table, round_trip_line

    params = {"vocab_size": vocab_size, "min_frequency": min_frequency, "sample_docs": sample_docs,
              "balance_sources": balance_sources, "special_tokens": list(special_tokens), "eod_token": eod_token,
              "pre_tokenizer": {"cjk": cjk, "digits": digits}, "seed": seed}
    if model != "bpe":
        params["model"] = model
    if character_coverage is not None:
        params["character_coverage"] = character_coverage
    with tempfile.TemporaryDirectory(prefix="garden-tok-") as tmp:
        _run(_inputs(inputs, source), [{"train_tokenizer": params}], workers, os.path.join(tmp, "run"))
        src = os.path.join(tmp, "run", "tokenizer")
        os.makedirs(output, exist_ok=True)
        for name in os.listdir(src):
            shutil.copy2(os.path.join(src, name), os.path.join(output, name))
    with open(os.path.join(output, "report.json"), encoding="utf-8") as fh:
        report = json.load(fh)
    click.echo(f"{output}/tokenizer.json: {report.get('model', 'bpe')}, vocab {report['vocab_size']}, "
               f"EOD {report['eod_token']!r} = {report['eod_id']}, trained on "
               f"{report['trained_on']['documents']} documents")
    click.echo(format_table(report["compression"]))
    click.echo(round_trip_line(report))


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
    from operators.tokens import round_trips, unk_token_of

    if round_trips(tok):
        check = f"round trip {'ok' if tok.decode(ids) == text else 'FAILED'}"
    else:
        unk = unk_token_of(tok)
        n_unk = ids.count(tok.token_to_id(unk)) if unk else 0
        check = f"{n_unk} unknown ({unk}); no round trip (wordpiece drops whitespace)"
    click.echo(f"{len(ids)} tokens, {len(text)} chars, {nbytes} bytes: "
               f"{nbytes / max(len(ids), 1):.2f} bytes/token, {len(text) / max(len(ids), 1):.2f} chars/token; "
               f"{check}", err=True)


def _read_docs(inputs: tuple[str, ...], docs: int) -> list[list[dict]]:
    """The first `docs` documents of each input file (its source = the file name)."""
    from garden.io.inputs import plan_inputs
    from garden.io.reader import ReadResult, read_shard
    from garden.recipe import InputSpec

    out = []
    for spec in _inputs(inputs, None):
        taken: list[dict] = []
        for shard in plan_inputs([InputSpec(path=spec["path"], source=spec["source"])], 1 << 40):
            for batch in read_shard(shard, ReadResult(), 1000):
                taken.extend(batch[: docs - len(taken)])
                if len(taken) >= docs:
                    break
            if len(taken) >= docs:
                break
        out.append(taken)
    return out


@tokenizer.command()
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--docs", default=1000, show_default=True, type=int, help="Documents per input file (first N).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def stats(tokenizer_path, inputs, docs, as_json) -> None:
    """Bytes and characters per token per source and language, and the round-trip check (the
    unknown-token rate for wordpiece), on INPUTS."""
    from operators.tokens import CompressionReport, format_table, load_tokenizer, round_trip_line

    try:
        tok, _ = load_tokenizer(tokenizer_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    report = CompressionReport()
    for taken in _read_docs(inputs, docs):
        report.add(tok, taken)
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        click.echo(format_table(summary["compression"]))
        click.echo(round_trip_line(summary))
    if summary["round_trip_failures"]:
        sys.exit(1)


@tokenizer.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--tokenizer", "-t", "tokenizers_", multiple=True, required=True,
              help="A tokenizer to compare (tokenizer.json or a directory); repeat for each, NAME=PATH to label it.")
@click.option("--docs", default=1000, show_default=True, type=int, help="Documents per input file (first N).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def compare(inputs, tokenizers_, docs, as_json) -> None:
    """Bytes and characters per token of several tokenizers on INPUTS: one row per tokenizer and
    language (e.g. bpe, unigram and wordpiece trained with the same vocabulary size), with the
    round-trip failures (bpe, unigram) or the unknown-token rate (wordpiece). Exit 1 if a
    document does not round-trip."""
    from operators.tokens import compare_rows, format_table, load_tokenizer

    loaded = []
    for spec in tokenizers_:
        name, _, path = spec.rpartition("=") if "=" in spec and not os.path.exists(spec) else ("", "", spec)
        try:
            tok, _ = load_tokenizer(path)
        except (OSError, ValueError) as exc:
            _fail(str(exc))
        loaded.append((name, tok))
    rows = compare_rows(loaded, [d for taken in _read_docs(inputs, docs) for d in taken])
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        sys.exit(1 if any(r.get("round_trip_failures") for r in rows) else 0)
    click.echo(format_table(rows))
    failed = [r for r in rows if r.get("round_trip_failures")]
    for r in failed:
        click.echo(f"{r['model']}: {r['round_trip_failures']} documents in {r['lang']} do not round-trip")
    if failed:
        sys.exit(1)
