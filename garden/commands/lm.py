"""`garden lm train|score`: the n-gram language models of `train_lm` and `perplexity` without a recipe."""
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


@click.group()
def lm() -> None:
    """Train n-gram language models (modified Kneser-Ney) and score text with them."""


@lm.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Directory for model.npz.")
@click.option("--order", default=5, show_default=True, type=click.IntRange(1, 10))
@click.option("--tokenizer", default="bytes", show_default=True,
              help="bytes (any language, no tokenizer), or a tokenizer.json / its directory.")
@click.option("--max-size", help="Prune the model to about this size on disk, e.g. 100MB.")
@click.option("--arpa", is_flag=True, help="Also write model.arpa (+ .garden.json), readable by KenLM.")
@click.option("--max-memory", default="512MB", show_default=True,
              help="N-gram counts held in memory per counter before sorted runs spill to the temp directory.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(min=1))
def train(inputs, output, order, tokenizer, max_size, arpa, max_memory, workers) -> None:
    """Train on INPUTS (jsonl/jsonl.gz/jsonl.zst/parquet, field `text`); every line of text is a sentence."""
    from garden.api import run_recipe
    from garden.progress import Progress
    from garden.recipe import RecipeError, recipe_from_dict

    params = {"order": order, "tokenizer": tokenizer, "max_size": max_size, "arpa": arpa, "max_memory": max_memory}
    with tempfile.TemporaryDirectory(prefix="garden-lm-") as tmp:
        run_dir = os.path.join(tmp, "run")
        inputs_spec = [{"path": os.path.abspath(p), "source": f"input{i}"} for i, p in enumerate(inputs)]
        try:
            recipe = recipe_from_dict({"name": "lm", "inputs": inputs_spec, "output": run_dir, "workers": workers,
                                       "pipeline": [{"train_lm": params}]})
        except RecipeError as exc:
            _fail(str(exc))
        try:
            stats = run_recipe(recipe, progress=Progress(enabled=False))
        except ValueError as exc:
            _fail(str(exc))
        src = os.path.join(run_dir, "lm", "all")
        os.makedirs(output, exist_ok=True)
        for name in os.listdir(src):
            shutil.copy2(os.path.join(src, name), os.path.join(output, name))
    info = next(op for op in stats["ops"] if op["name"] == "train_lm")["models"]["*"]
    trained = info["trained_on"]
    click.echo(f"{output}/model.npz: order {order}, {tokenizer} tokens, {trained['tokens']:,} tokens in "
               f"{trained['sentences']:,} lines, n-grams per order {info['ngrams']}, {info['bytes']:,} bytes")
    with open(os.path.join(output, "train.json"), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1)


@lm.command()
@click.argument("model_path", metavar="MODEL")
@click.argument("text", required=False)
@click.option("--file", "file_", type=click.File("r", encoding="utf-8"),
              help="Score each line of this file ('-' = stdin) instead of TEXT.")
def score(model_path, text, file_) -> None:
    """Print the perplexity of TEXT (or of each line of --file) under MODEL (.npz, its directory, ARPA, KenLM)."""
    from garden.lm import load_model

    if (text is None) == (file_ is None):
        _fail("give TEXT or --file")
    try:
        model = load_model(model_path)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    texts = [text] if file_ is None else [line.rstrip("\n") for line in file_]
    log10, tokens = model.score_texts(texts)
    from garden.lm import perplexity_of

    for t, lp, n in zip(texts, log10, tokens):
        ppl = perplexity_of(float(lp), int(n))
        shown = "null" if ppl is None else f"{ppl:.3f}"
        click.echo(f"{shown}\t{int(n)} tokens\t{t[:60]!r}" if file_ is not None else f"{shown}\t{int(n)} tokens")
