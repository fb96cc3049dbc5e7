"""Per-language filter defaults: what the default heuristic chain keeps of clean and corrupted
Chinese paragraphs, and how much the keep share of English corpora moves.

    .venv/bin/python bench/bench_zh_filters.py [--quick] [--no-write]

The chain is the filter part of recipes/demo-zh.yaml with every parameter at its default:
line_filter → gopher_repetition → gopher_quality → c4_quality → fineweb_quality (a document
that line_filter empties is dropped by gopher_quality's min_doc_words). Chinese paragraphs come
from bench/zh_paragraphs.py (consecutive sentences of one man page, kernel document or handbook
page joined to ≥ 200 characters; corrupted: every line repeated, short lines without
punctuation, symbol noise). English documents are the shared corpora's English files and the
handbook's English paragraphs. Each set runs twice in the same process: without a `lang` column
(the `default` thresholds, i.e. Garden before per-language thresholds) and with `lang` (the
paragraphs' own `zh`; for English, what the `language` operator says, so misidentified documents
meet other languages' thresholds). Figures go to bench/results/zh_filters.md.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import zh_paragraphs  # noqa: E402
from run_all import publish  # noqa: E402

from garden import registry  # noqa: E402

CORPORA = "/work/shared/corpora"
CHAIN = ("line_filter", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")
ENGLISH = ("en_fortunes", "en_dict_foldoc", "en_linux_doc_rst", "en_python_doc_rst", "web_enwiki_wikitext_sample")
RESULTS = os.path.join(HERE, "results", "zh_filters.md")


def run_chain(docs: list[dict]) -> tuple[int, Counter]:
    """(kept, drop reasons) of the default chain over copies of `docs`."""
    ops = [registry.get(name)() for name in CHAIN]
    kept, reasons = 0, Counter()
    for doc in docs:
        doc = dict(doc)
        verdict = True
        for op in ops:
            if op.kind == "mapper":
                doc = op.map(doc)
                continue
            verdict = op.keep(doc)
            if verdict is not True:
                reasons[f"{op.name}:{verdict}"] += 1
                break
        kept += verdict is True
    return kept, reasons


def english_docs(limit: int | None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name in ENGLISH:
        with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            out[name] = [{"id": d["id"], "text": d["text"]} for d in map(json.loads, fh)][:limit]
    with gzip.open(os.path.join(CORPORA, "multi_debian_handbook_paragraphs.jsonl.gz"), "rt", encoding="utf-8") as fh:
        out["handbook_en"] = [{"id": d["id"], "text": d["text"]} for d in map(json.loads, fh) if d["lang"] == "en"][:limit]
    return out


def label(docs: list[dict]) -> list[dict]:
    """The documents with `lang` as the `language` operator writes it (annotate only)."""
    op = registry.get("language")(keep=[])
    out = [dict(d) for d in docs]
    for start in range(0, len(out), 2000):
        op.keep_batch(out[start:start + 2000])
    return out


def parallel_ratios() -> list[str]:
    """PAR and SENT of operators/quality/_thresholds.py: Garden words and sentences per English word and
    sentence, on handbook paragraphs present in English and in zh/ja/ko (≥ 20 English words, ≥ 60 % CJK letters)."""
    from garden.text import count_words
    from operators.quality import cjk_share
    from operators.quality.c4 import count_sentences

    docs: dict[str, dict[str, str]] = {}
    with gzip.open(os.path.join(CORPORA, "multi_debian_handbook_paragraphs.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for d in map(json.loads, fh):
            _, locale, key = d["id"].split("/", 2)
            docs.setdefault(locale, {})[key] = d["text"]
    out = []
    for locale in ("zh-CN", "ja-JP", "ko-KR"):
        words = en_words = sents = en_sents = pairs = 0
        for key, text in docs[locale].items():
            en = docs["en-US"].get(key)
            if en is None or cjk_share(text) < 0.6 or count_words(en) < 20:
                continue
            pairs += 1
            words, en_words = words + count_words(text), en_words + count_words(en)
            sents, en_sents = sents + count_sentences(text), en_sents + count_sentences(en)
        out.append(f"{locale[:2]}: {words / en_words:.2f} words and {sents / en_sents:.2f} sentences per English "
                   f"one ({pairs} paragraph pairs)")
    return out


def alpha_share(text: str) -> float:
    """gopher_quality's alphabetic-token share (tokens with a letter / all tokens)."""
    from operators.quality import split_tokens

    words, n_punct = split_tokens(text)
    letterless = sum(1 for w in words if not any(c.isalpha() for c in w))
    return (len(words) - letterless) / max(len(words) + n_punct, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def share(kept: int, total: int) -> str:
    return f"{100 * kept / max(total, 1):.1f} %"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="at most 300 documents per set")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    limit = 300 if args.quick else None
    t0 = time.time()
    clean = zh_paragraphs.clean_paragraphs(per_source=limit or 100_000)
    by_source = Counter(d["source"] for d in clean)
    sets = {"clean": clean}
    for kind in zh_paragraphs.CORRUPTIONS:
        sets[kind] = [{**d, "text": zh_paragraphs.corrupt(d["text"], kind, i)} for i, d in enumerate(clean)]

    lines = ["## Per-language filter defaults: Chinese paragraphs and English corpora", "",
             f"Default chain (every parameter at its default): {' → '.join(CHAIN)}. "
             f"`bench/bench_zh_filters.py`{' --quick' if args.quick else ''}; "
             f"{len(clean)} clean Chinese paragraphs of ≥ 200 characters "
             f"({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}), each also corrupted three ways "
             "(bench/zh_paragraphs.py). \"without lang\" = the `default` thresholds (Garden before per-language "
             "thresholds; documents without a `lang` column still get exactly these); \"with lang\" = `lang: zh`.", "",
             "| Chinese set | docs | kept without lang | kept with lang | goal | top drop reasons with lang |",
             "|---|---|---|---|---|---|"]
    figures = {}
    for name, docs in sets.items():
        no_lang = [{k: v for k, v in d.items() if k != "lang"} for d in docs]
        kept_before, _ = run_chain(no_lang)
        kept_after, reasons = run_chain(docs)
        figures[name] = kept_after / len(docs)
        goal = "keep ≥ 85 %" if name == "clean" else "drop ≥ 90 %"
        top = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
        lines.append(f"| {name} | {len(docs)} | {share(kept_before, len(docs))} | {share(kept_after, len(docs))} "
                     f"| {goal} | {top} |")
    dropped = {k: 1 - v for k, v in figures.items() if k != "clean"}
    lines += ["", f"Clean kept: {100 * figures['clean']:.1f} % (goal ≥ 85 %); corrupted dropped: "
              + ", ".join(f"{k} {100 * v:.1f} %" for k, v in dropped.items()) + " (goal ≥ 90 % each).", ""]

    from operators.quality.c4 import count_sentences

    sentences = [count_sentences(d["text"]) for d in clean]
    clean_alpha = [alpha_share(d["text"]) for d in clean]
    noise_alpha = [alpha_share(d["text"]) for d in sets["symbol_noise"]]
    lines += ["Measurements behind the built-in table (README \"Per-language thresholds\"):", "",
              "- PAR/SENT, parallel handbook paragraphs: " + "; ".join(parallel_ratios()) + ".",
              f"- SENT, clean paragraphs: sentences per paragraph median {percentile(sentences, 50):g}, "
              f"5th percentile {percentile(sentences, 5):g}.",
              f"- Alphabetic-token share (CJK characters as words): clean median {percentile(clean_alpha, 50):.3f}, "
              f"1st percentile {percentile(clean_alpha, 1):.3f}; symbol noise max {max(noise_alpha):.3f}.", ""]

    lines += ["| English corpus | docs | kept without lang | kept with lang (`language` operator) | change | "
              "`lang` ≠ en |", "|---|---|---|---|---|---|"]
    total_before = total_after = total = 0
    for name, docs in english_docs(limit).items():
        labelled = label(docs)
        kept_before, _ = run_chain(docs)
        kept_after, _ = run_chain(labelled)
        other = sum(1 for d in labelled if d.get("lang") != "en")
        total_before += kept_before
        total_after += kept_after
        total += len(docs)
        lines.append(f"| {name} | {len(docs)} | {share(kept_before, len(docs))} | {share(kept_after, len(docs))} "
                     f"| {100 * (kept_after - kept_before) / len(docs):+.2f} pp | {other} |")
    lines.append(f"| **all** | {total} | {share(total_before, total)} | {share(total_after, total)} "
                 f"| {100 * (total_after - total_before) / total:+.2f} pp | |")
    lines += ["", "English documents labelled `en` get exactly the `default` values; the change comes only from "
              "documents the language model labels otherwise (they meet that language's or script's thresholds "
              "and stop words).", "", f"Run time {time.time() - t0:.0f} s."]
    publish(lines, RESULTS, write=not args.no_write)
    ok = figures["clean"] >= 0.85 and all(v >= 0.9 for v in dropped.values()) \
        and abs(total_after - total_before) / total < 0.01
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
