"""fastText quality classifier: the one text preprocessing shared by training and inference, training, metrics.

Training and inference must see text the same way or the scores mean nothing, so both call
`classifier_text`. It lower-cases, splits punctuation from words, writes each Chinese/Japanese/
Korean character as its own token (fastText splits on spaces only), maps digits to 0, keeps
line breaks as a token (boilerplate is many short lines) and bounds the length.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator

import regex

from garden.hashing import digest64, seeded_fraction, seeded_text
from garden.text import CJK

POSITIVE = "hq"
NEGATIVE = "lq"
MAX_TOKENS = 1500
NEWLINE_TOKEN = "_nl_"

_TOKEN = regex.compile(rf"[{CJK}]|[^\s\p{{P}}\p{{S}}\p{{C}}{CJK}]+|[\p{{P}}\p{{S}}]|\n")
_DIGIT = regex.compile(r"\d")


def classifier_text(text: str, max_tokens: int = MAX_TOKENS) -> str:
    """Text as the classifier reads it: one line of space-separated tokens (fastText rejects '\\n')."""
    out: list[str] = []
    for match in _TOKEN.finditer(text.casefold()):
        tok = match.group()
        if tok == "\n":
            if out and out[-1] != NEWLINE_TOKEN:
                out.append(NEWLINE_TOKEN)
        else:
            out.append(_DIGIT.sub("0", tok))
        if len(out) >= max_tokens:
            break
    return " ".join(out)


def score_texts(model, texts: list[str], label: str = POSITIVE) -> list[float]:
    """Probability of `label` for each text, from one batched predict call.

    A text with no word the model knows (empty, emoji only, one unseen word) scores 0: fastText
    would answer its prior-free default, probability 1 for the first label, for lack of features.
    """
    if not texts:
        return []
    want = f"__label__{label}"
    prepared = [classifier_text(t) for t in texts]
    labels, probs = model.predict(prepared, k=-1)
    scores = []
    for text, ls, ps in zip(prepared, labels, probs):
        known = any(model.get_word_id(tok) >= 0 for tok in text.split())
        scores.append(round(min(float(dict(zip(ls, ps)).get(want, 0.0)), 1.0), 4) if known else 0.0)
    return scores


def model_labels(model) -> list[str]:
    return [label.replace("__label__", "") for label in model.get_labels()]


def is_held_out(text: str, fraction: float, seed: int) -> bool:
    """Deterministic split by content: the same document is always on the same side."""
    return seeded_fraction(seed, text) < fraction


@dataclass
class Metrics:
    """Held-out figures for the positive label."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    threshold: float
    lr: float
    n_train: int
    n_test: int
    n_positive: int
    n_negative: int


def evaluate(model, texts: list[str], is_positive: list[bool], threshold: float = 0.5) -> dict:
    scores = score_texts(model, texts)
    pred = [s >= threshold for s in scores]
    tp = sum(p and y for p, y in zip(pred, is_positive))
    fp = sum(p and not y for p, y in zip(pred, is_positive))
    fn = sum(not p and y for p, y in zip(pred, is_positive))
    correct = sum(p == y for p, y in zip(pred, is_positive))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "accuracy": round(correct / len(texts), 4) if texts else 0.0}


def train_classifier(positive: list[str], negative: list[str], out_path: str, *, test_fraction: float = 0.1,
                     seed: int = 0, epoch: int = 25, lr: float = 0.5, word_ngrams: int = 2, dim: int = 32,
                     bucket: int = 200_000, min_count: int = 1, quantize: bool = False,
                     threads: int = 1) -> Metrics:
    """Train `__label__hq` (positive) vs `__label__lq` (negative), save the model, return held-out metrics.

    One thread by default (multi-threaded fastText training is order-dependent); even so,
    fasttext-modern 0.10.0 does not give bit-identical models run to run (measured), so the
    model file is the reproducible artifact: inference with it is deterministic. The model
    size is about (vocabulary + bucket) x dim x 4 bytes; `quantize` shrinks it ~10x.
    """
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    train_lines: list[str] = []
    test_texts: list[str] = []
    test_labels: list[bool] = []
    for texts, label in ((positive, POSITIVE), (negative, NEGATIVE)):
        for text in texts:
            if not text.strip():
                continue
            if is_held_out(text, test_fraction, seed):
                test_texts.append(text)
                test_labels.append(label == POSITIVE)
            else:
                train_lines.append(f"__label__{label} {classifier_text(text)}")
    if not train_lines:
        raise ValueError("no training documents")
    train_lines.sort(key=lambda line: digest64(seeded_text(seed, line, sep="")))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        fh.write("\n".join(train_lines) + "\n")
        train_file = fh.name
    try:
        # fasttext-modern 0.10.0 sometimes stops with "Encountered NaN" on small data even at low lr,
        # and not reproducibly (measured: 4 of 5 runs of one configuration, one thread, fixed seed):
        # retry, and halve lr every second try in case it really diverges.
        for attempt in range(6):
            try:
                model = fasttext.train_supervised(input=train_file, epoch=epoch, lr=lr, wordNgrams=word_ngrams,
                                                  dim=dim, minCount=min_count, bucket=bucket, loss="softmax",
                                                  thread=threads, seed=seed, verbose=0)
                break
            except RuntimeError as exc:
                if "NaN" not in str(exc) or attempt == 5:
                    raise
                lr = lr / 2 if attempt % 2 else lr
        if quantize:
            model.quantize(input=train_file, qnorm=True, retrain=False, thread=threads, verbose=0)
    finally:
        os.unlink(train_file)
    model.save_model(out_path)
    figures = evaluate(model, test_texts, test_labels) if test_texts else \
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
    metrics = Metrics(threshold=0.5, lr=lr, n_train=len(train_lines), n_test=len(test_texts),
                      n_positive=len(positive), n_negative=len(negative), **figures)
    with open(metrics_path(out_path), "w", encoding="utf-8") as fh:
        json.dump(asdict(metrics), fh, indent=2)
    return metrics


def metrics_path(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + ".metrics.json"


def read_texts(paths: Iterable[str], text_field: str = "text") -> Iterator[str]:
    """Documents from .jsonl/.jsonl.gz/.jsonl.zst (field `text_field`), .parquet, or .txt (one per line)."""
    for path in paths:
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            yield from (t for t in pq.read_table(path, columns=[text_field]).column(text_field).to_pylist() if t)
            continue
        from garden.io.inputs import open_decompressed

        with open_decompressed(path) as fh:
            for raw in fh:
                line = raw.decode("utf-8")
                if ".jsonl" in path or ".json" in path:
                    if line.strip():
                        value = json.loads(line).get(text_field)
                        if isinstance(value, str) and value:
                            yield value
                elif line.strip():
                    yield line.rstrip("\n")
