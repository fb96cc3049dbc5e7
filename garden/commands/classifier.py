"""`garden classifier train`: fit the fastText quality classifier used by the quality_classifier operator."""
from __future__ import annotations

import click


@click.group()
def classifier() -> None:
    """Train quality classifiers for the quality_classifier operator."""


@classifier.command()
@click.option("--positive", "positive", multiple=True, required=True,
              help="Files of good documents (.jsonl[.gz|.zst], .parquet, or .txt one per line); a glob "
                   "pattern or comma-separated list; repeatable.")
@click.option("--negative", "negative", multiple=True, required=True, help="Files of bad documents; same forms.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the model (.bin).")
@click.option("--lang", "langs", multiple=True, help="Train only on documents in these languages (ISO 639-1); repeatable.")
@click.option("--text-field", default="text", show_default=True, help="JSON/parquet field holding the text.")
@click.option("--max-docs", type=click.IntRange(min=1), help="At most this many documents per side (deterministic pick).")
@click.option("--test-fraction", default=0.1, show_default=True, type=click.FloatRange(0.0, 0.9),
              help="Share of documents held out for precision/recall/F1.")
@click.option("--epoch", default=25, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=0.5, show_default=True, type=float)
@click.option("--word-ngrams", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--dim", default=32, show_default=True, type=click.IntRange(min=2))
@click.option("--bucket", default=200_000, show_default=True, type=click.IntRange(min=1000),
              help="Hash buckets for word n-grams (model size ~ bucket x dim x 4 bytes).")
@click.option("--quantize", is_flag=True, help="Write a quantized model (~10x smaller, slightly less accurate).")
@click.option("--seed", default=0, show_default=True, type=int)
def train(positive: tuple[str, ...], negative: tuple[str, ...], out: str, langs: tuple[str, ...], text_field: str,
          max_docs: int | None, test_fraction: float, epoch: int, lr: float, word_ngrams: int, dim: int,
          bucket: int, quantize: bool, seed: int) -> None:
    """Train a positive-vs-negative fastText classifier; print and save held-out precision/recall/F1."""
    from operators.quality import metrics_path, read_texts, train_classifier

    pos = _pick(list(read_texts(_expand(positive, "--positive"), text_field)), langs, max_docs, seed)
    neg = _pick(list(read_texts(_expand(negative, "--negative"), text_field)), langs, max_docs, seed)
    if not pos or not neg:
        raise click.ClickException(f"need documents on both sides (positive {len(pos)}, negative {len(neg)})")
    click.echo(f"training on {len(pos)} positive and {len(neg)} negative documents ...")
    try:
        metrics = train_classifier(pos, neg, out, test_fraction=test_fraction, seed=seed, epoch=epoch, lr=lr,
                                   word_ngrams=word_ngrams, dim=dim, bucket=bucket, quantize=quantize)
    except RuntimeError as exc:
        raise click.ClickException(f"fastText training failed ({exc}); with little data a larger --bucket "
                                   "(the default 200000), a larger --dim or a lower --lr usually helps") from None
    click.echo(f"held out {metrics.n_test} documents: precision {metrics.precision:.3f}  recall {metrics.recall:.3f}  "
               f"F1 {metrics.f1:.3f}  accuracy {metrics.accuracy:.3f}")
    click.echo(f"model: {out}\nmetrics: {metrics_path(out)}")


def _expand(values: tuple[str, ...], option: str) -> list[str]:
    """Paths from repeated options, comma-separated lists and glob patterns; each must exist."""
    import glob
    import os

    paths: list[str] = []
    for value in values:
        for item in filter(None, (v.strip() for v in value.split(","))):
            found = sorted(glob.glob(item)) if any(ch in item for ch in "*?[") else [item]
            if not found or not all(os.path.isfile(p) for p in found):
                raise click.BadParameter(f"no such file: {item}", param_hint=option)
            paths += found
    return paths


def _pick(texts: list[str], langs: tuple[str, ...], max_docs: int | None, seed: int) -> list[str]:
    """Documents in the wanted languages, at most max_docs of them, chosen by content hash (reproducible)."""
    if langs:
        from operators.lang import LABEL_ALIASES, LanguageIdentifier

        wanted = {LABEL_ALIASES.get(code, code) for code in langs}
        found = LanguageIdentifier().predict(texts)
        texts = [t for t, (lang, _) in zip(texts, found) if lang in wanted]
    if max_docs is not None and len(texts) > max_docs:
        from garden.hashing import digest64, seeded_text

        texts = sorted(texts, key=lambda t: digest64(seeded_text(seed, t)))[:max_docs]
    return texts

