"""n-gram LM and DSIR benchmarks (issue 15): training cost and size per million tokens, scoring and
DSIR throughput per worker, and the `kenlm` module on the same ARPA model when it can be imported.

Measured in one process (CPU seconds via time.process_time, so the figures are per worker and do
not depend on other load on the machine). Real text from /work/shared/corpora.

    python bench/bench_lm.py [--quick]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
CORPORA = "/work/shared/corpora"

from garden.lm import Normalizer, TokenSpec, TrainConfig, train_model, write_arpa  # noqa: E402
from garden.lm.hashed_features import histogram, log_distribution, log_weights  # noqa: E402


def texts(name: str, max_chars: int) -> list[str]:
    out, total = [], 0
    with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            t = json.loads(line)["text"]
            out.append(t)
            total += len(t)
            if total >= max_chars:
                break
    return out


def paragraphs(docs: list[str], n: int) -> list[str]:
    ps = [p.strip() for d in docs for p in d.split("\n\n") if len(p.strip()) >= 80]
    return ps[:n]


def cpu(fn):
    t0 = time.process_time()
    out = fn()
    return out, time.process_time() - t0


def train_rows(name: str, chars: int, order: int, spec: TokenSpec, label: str) -> tuple[list[str], object]:
    norm = Normalizer()
    docs = texts(name, chars)
    (lines, encoded), t_prep = cpu(lambda: _prep(docs, norm, spec))
    model, t_train = cpu(lambda: train_model(encoded, spec, TrainConfig(order=order)))
    tokens = model.meta["trained_on"]["tokens"]
    size = len(model.to_bytes())
    pruned, t_pruned = cpu(lambda: train_model(encoded, spec, TrainConfig(order=order, max_bytes=size // 4)))
    m = tokens / 1e6
    row = (f"| {name} | {label} | {order} | {tokens / 1e6:.2f} | {(t_prep + t_train) / m:.1f} | "
           f"{size / m / 2**20:.1f} | {sum(model.num_ngrams()) / m / 1e6:.2f} | {len(pruned.to_bytes()) / m / 2**20:.1f} |")
    return [row], model


def _prep(docs, norm, spec):
    lines = [n for d in docs for n in (norm(x) for x in d.split("\n")) if n]
    return lines, spec.encode(lines)


def score_rate(model, docs: list[str]) -> float:
    _, t = cpu(lambda: model.perplexity(docs))
    return len(docs) / t


def kenlm_rate(arpa: str, model, docs: list[str]) -> tuple[float, float] | None:
    """kenlm.Model on the ARPA written by Garden (pieces joined by spaces), docs/s and max |Δlog10|."""
    sys.path.insert(0, "/tmp/kenlm_pkg")
    try:
        import kenlm
    except ImportError:
        return None
    km = kenlm.Model(arpa)
    spec = model.spec
    pieces = [[" ".join(spec.piece(int(t)) for t in ids) for ids in spec.encode(model.lines(d))] for d in docs]

    def run():
        return [sum(km.score(p, bos=True, eos=True) for p in doc) for doc in pieces]

    theirs, t = cpu(run)
    ours, _ = model.score_texts(docs)
    return len(docs) / t, float(np.max(np.abs(np.array(theirs) - ours)))


def quality_rows() -> list[str]:
    """AUC of perplexity, clean vs corrupted held-out paragraphs (the fixtures and corruptions of the tests)."""
    import random

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    from test_lm_quality import auc, keyboard_noise, lines_of, shuffled
    from test_lm_quality import texts as fixture_texts
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    out = ["| quality: AUC clean vs corrupted (tests/fixtures/lm, order 5) | tokens | shuffled | noise 10 % | "
           "noise 15 % | pooled (15 %) |", "|---|---|---|---|---|---|"]
    for lang in ("en", "zh"):
        train_lines = lines_of(fixture_texts(f"{lang}_train.jsonl.gz"))
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(train_lines, trainers.BpeTrainer(
            vocab_size=2000, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
        for label, spec in (("bytes", TokenSpec("bytes")), ("BPE 2000", TokenSpec("tokenizer", tokenizer_json=tok.to_str()))):
            model = train_model(spec.encode(train_lines), spec, TrainConfig(order=5))
            test = fixture_texts(f"{lang}_test.jsonl.gz")
            rng = random.Random(0)
            clean = model.perplexity(test)
            a_shuf = auc(model.perplexity([shuffled(t, rng, chars=lang == "zh") for t in test]), clean)
            a10 = auc(model.perplexity([keyboard_noise(t, rng, 0.10) for t in test]), clean)
            a15 = auc(model.perplexity([keyboard_noise(t, rng, 0.15) for t in test]), clean)
            out.append(f"| {lang} | {label} | {a_shuf:.3f} | {a10:.3f} | {a15:.3f} | {(a_shuf + a15) / 2:.3f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    chars = 1_000_000 if args.quick else 4_000_000
    lines = ["## n-gram LM (`train_lm`, `perplexity`) and DSIR (`dsir`)\n",
             "CPU seconds of one process (per worker). `garden lm train` / `train_lm` count in parallel per shard; "
             "the estimate runs once on the driver. Text: the first ~{:.0f} M characters of each corpus.\n".format(chars / 1e6),
             "| corpus | tokens | order | M tokens | train s / M tokens | MB / M tokens | M n-grams / M tokens "
             "| MB / M tokens pruned to 1/4 |", "|---|---|---|---|---|---|---|---|"]
    models = {}
    for name in ("en_linux_doc_rst", "zh_manpages"):
        rows, model = train_rows(name, chars, 5, TokenSpec("bytes"), "bytes")
        lines += rows
        models[name] = model
    lines.append("")
    lines += ["| scoring (perplexity per document) | docs/s per worker | chars/s |", "|---|---|---|"]
    score_docs = {}
    for name in ("en_linux_doc_rst", "zh_manpages"):
        docs = paragraphs(texts(name, chars * 2)[-400:], 3000)
        score_docs[name] = docs
        rate = score_rate(models[name], docs)
        avg = np.mean([len(d) for d in docs])
        lines.append(f"| Garden, {name} paragraphs (avg {avg:.0f} chars) | {rate:,.0f} | {rate * avg / 1e6:.2f} M |")
        with tempfile.TemporaryDirectory() as tmp:
            arpa = os.path.join(tmp, "m.arpa")
            write_arpa(models[name], arpa)
            k = kenlm_rate(arpa, models[name], docs)
            if k is not None:
                lines.append(f"| kenlm module, same ARPA, same docs ({name}) | {k[0]:,.0f} | max abs diff of "
                             f"log10 p per doc {k[1]:.2e} |")
    if any("kenlm module" in line for line in lines):
        lines.append("\nkenlm's rate excludes normalisation and tokenisation (its input is prepared beforehand); "
                     "Garden's includes both. The log10 probabilities agree to the precision of ARPA's 6 decimals.")
    lines.append("\nThe `perplexity` operator scores every document twice (scan for the per-language "
                 "percentiles, then apply), so its documents/s per worker is about half the scoring rate.")
    if not any("kenlm module" in line for line in lines):
        lines.append("`kenlm` could not be imported here (0.3.0 on PyPI builds from source); no kenlm row.")
    # DSIR
    pool = paragraphs(texts("en_linux_doc_rst", chars), 2000) + paragraphs(texts("en_fortunes", chars // 4), 2000)
    target = paragraphs(texts("en_python_doc_rst", chars // 2), 1000)
    raw, t_raw = cpu(lambda: histogram(pool, 65536))
    ratio = log_distribution(histogram(target, 65536)) - log_distribution(raw)
    _, t_w = cpu(lambda: log_weights(pool, ratio))
    lines += ["", "| dsir (65,536 buckets, unigrams + bigrams) | docs/s per worker |", "|---|---|",
              f"| raw histogram (scan) | {len(pool) / t_raw:,.0f} |",
              f"| log importance weights (finalize pass, apply) | {len(pool) / t_w:,.0f} |",
              f"| whole operator (scan + driver pass + apply) | {len(pool) / (t_raw + 2 * t_w):,.0f} |",
              "", "The threshold pass runs on the driver alone: on N workers the dsir stage is bounded by it."]
    lines += ["", *quality_rows()]
    out = os.path.join(HERE, "results", "lm.md")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
