"""Bytes per token of the three subword models (bpe, unigram, wordpiece) on Chinese and English.

All three are trained by Garden's `train_tokenizer` code with the same vocabulary size, the same
pre-tokenisation (CJK runs isolated, digits split) and the same training text: the first
`--train-mb` MB of text of each of four corpora from /work/shared/corpora (Chinese man pages,
Chinese kernel documentation, English kernel documentation, English fortunes), documents chosen
by a seeded hash of their id. They are measured on held-out documents of the same corpora
(`--eval-mb` MB each): UTF-8 bytes and characters per token, round-trip failures (bpe, unigram)
and the share of [UNK] tokens (wordpiece, which cannot round-trip). Training time is CPU time on
a shared machine: compare models within a run only.

    python bench/bench_tokenizer_models.py [--quick] [--vocab-size 32000] [--no-write]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
CORPORA = "/work/shared/corpora"
SOURCES = {"zh_manpages": "zh", "zh_linux_doc_rst": "zh", "en_linux_doc_rst": "en", "en_fortunes": "en"}
MODELS = ("bpe", "unigram", "wordpiece")
RESULTS = os.path.join(HERE, "results", "tokenizer_models.md")


def _key(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def split_corpus(name: str, train_bytes: int, eval_bytes: int) -> tuple[list[str], list[dict]]:
    """(training texts, held-out docs): documents in seeded-hash order, held-out ones first."""
    with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    docs.sort(key=lambda d: _key(d["id"]))
    held, train, used = [], [], 0
    for d in docs:
        size = len(d["text"].encode())
        if used < eval_bytes:
            held.append({"id": d["id"], "text": d["text"], "source": name, "lang": SOURCES[name]})
            used += size
        elif train_bytes > 0:
            train.append(d["text"])
            train_bytes -= size
        else:
            break
    return train, held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="0.3 MB of training text per corpus")
    ap.add_argument("--train-mb", type=float, default=2.0)
    ap.add_argument("--eval-mb", type=float, default=0.3)
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--no-write", action="store_true", help="print only, do not write bench/results")
    args = ap.parse_args()
    from operators.tokens import CompressionReport, train_model
    from run_all import publish

    train_mb = 0.3 if args.quick else args.train_mb
    texts: list[str] = []
    held: list[dict] = []
    for name in SOURCES:
        t, h = split_corpus(name, int(train_mb * 1e6), int(args.eval_mb * 1e6))
        texts += t
        held += h
    train_size = sum(len(t.encode()) for t in texts) / 1e6
    results = {}
    for model in MODELS:
        cpu0 = time.process_time()
        tok = train_model(model, lambda: iter(texts), args.vocab_size, 2, "<|endoftext|>", [], {})
        cpu = time.process_time() - cpu0
        by_lang = CompressionReport()
        by_lang.add(tok, held)
        results[model] = (tok.get_vocab_size(with_added_tokens=True), cpu, by_lang)
        print(f"{model}: trained in {cpu:.1f} CPU s", flush=True)

    load = os.getloadavg()[0]
    lines = ["# Tokenizer models: bytes per token on Chinese and English", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other work (load average "
             f"{load:.1f} at the end), Python {platform.python_version()}. Vocabulary {args.vocab_size:,} for "
             f"each model, pre-tokenizer `cjk: run, digits: individual`; trained on {train_size:.1f} MB "
             f"({len(texts):,} documents: up to {train_mb:g} MB of text from each of "
             f"{', '.join(SOURCES)}), measured on {len(held):,} held-out documents "
             f"({args.eval_mb:g} MB of text from each corpus).", "",
             "Bytes/token: UTF-8 bytes of the text per token (higher = fewer tokens for the same text). "
             "Round trip: held-out documents with decode(encode(x)) != x. unk %: share of tokens that are "
             "the unknown token (wordpiece: `[UNK]`; unigram has byte fallback).", "",
             "| model | lang | documents | MB | tokens | bytes/token | chars/token | round-trip failures | unk % | vocab | train CPU s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model, (vocab, cpu, rep) in results.items():
        for r in rep.table(per_source=False):
            unk = f"{100 * r['unk_rate']:.3f}" if r.get("unk_rate") is not None else "–"
            rt = "n/a" if not rep.round_trip_checked else str(rep.failures_by_lang[r["lang"]])
            lines.append(f"| {model} | {r['lang']} | {r['documents']:,} | {r['bytes'] / 1e6:.2f} | {r['tokens']:,} | "
                         f"{r['bytes_per_token']:.2f} | {r['chars_per_token']:.2f} | {rt} | {unk} | {vocab:,} | "
                         f"{cpu:.0f} |")
    lines += ["", "Per corpus (bytes/token; unk % for wordpiece):", "",
              "| corpus | " + " | ".join(MODELS) + " | wordpiece unk % |", "|---|" + "---:|" * (len(MODELS) + 1)]
    per = {m: {r["source"]: r for r in rep.table()} for m, (_, _, rep) in results.items()}
    for name in SOURCES:
        wp = per["wordpiece"][name]
        lines.append(f"| {name} | " + " | ".join(f"{per[m][name]['bytes_per_token']:.2f}" for m in MODELS)
                     + f" | {100 * wp['unk_rate']:.3f} |")
    publish(lines, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
