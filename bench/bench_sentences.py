"""Sentence counting for c4_quality: the sentencex splitter against the regex it replaced, speed and verdicts.

    .venv/bin/python bench/bench_sentences.py [--docs N] [--no-write]

On up to N documents of each corpus (default 3,000), with each document's `lang` when the corpus
has one:
1. Splitter speed on the lines c4_quality keeps (terminal punctuation, at least 3 words): the
   old pattern (a sentence ends at every . ! ? followed by a space) against sentencex.
2. c4_quality throughput three ways: counting every kept line with the old pattern (the old
   operator), splitting every kept line with sentencex, and the shipped operator (sentencex,
   splitting only while fewer lines than the five-sentence minimum are known).
3. Per language, pages of three Debian Handbook paragraphs (one line each, the pages that do get
   split): c4_quality throughput with the old count and the shipped one. sentencex's speed
   differs by language; its Catalan and Danish rules are slow, so those use its German rules
   (garden/sentences.py says why).
4. Which outputs change: documents whose c4_quality verdict differs between the old count and the
   new, and documents whose fineweb_quality verdict differs between the old terminal characters
   (Unicode sentence terminators plus closing quotes) and the new default (FineWeb-2's list).
Figures go to bench/results/sentences.md.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import time

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import operators.quality.c4 as c4  # noqa: E402
from garden.sentences import count_sentences  # noqa: E402
from operators.quality import end_chars, ends_sentence, lang_of  # noqa: E402
from operators.quality.fineweb import FineWebQuality  # noqa: E402

CORPORA = "/work/shared/corpora"
SETS = [("en_fortunes", "en"), ("en_linux_doc_rst", "en"), ("en_python_doc_rst", "en"), ("en_dict_foldoc", "en"),
        ("web_enwiki_wikitext_sample", "en"), ("de_fortunes", "de"), ("ru_fortunes", "ru"),
        ("zh_fortunes", "zh"), ("zh_linux_doc_rst", "zh"), ("multi_debian_handbook_paragraphs", None)]
RESULTS = os.path.join(ROOT, "bench", "results", "sentences.md")

# The count c4_quality used before garden.sentences: one sentence per run of terminal marks
# followed by a space or the end, or per CJK full stop.
OLD_SENTENCE_END_RE = regex.compile(
    r"""(?:[.!?‼⁇⁈⁉]+['"”’)\]]*(?=\s|$))|(?:[。！？]+[”’」』）]*)|(?:[\p{Sentence_Terminal}&&[^.!?。！？．]]+(?=\s|$))""",
    flags=regex.V1,
)


def old_count(line: str) -> int:
    return max(1, len(OLD_SENTENCE_END_RE.findall(line))) if line else 0


def old_enough(lines: list[str], lang: str, minimum: int) -> bool:
    return sum(old_count(line) for line in lines) >= minimum


def full_enough(lines: list[str], lang: str, minimum: int) -> bool:
    return sum(count_sentences(line, lang) for line in lines) >= minimum


def load(name: str, lang: str | None, n: int) -> list[dict]:
    docs = []
    with gzip.open(os.path.join(CORPORA, name + ".jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            docs.append({"id": rec["id"], "text": rec["text"], "source": name, "meta": "{}",
                         "lang": rec.get("lang") or lang})
            if len(docs) >= n:
                break
    return docs


def kept_lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and ends_sentence(line) and len(line.split()) >= 3:
            out.append(line)
    return out


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def verdicts(docs: list[dict], enough) -> tuple[float, list]:
    saved = c4.enough_sentences
    c4.enough_sentences = enough
    try:
        op = c4.C4Quality()
        return timed(lambda: [op.keep(dict(d)) for d in docs])
    finally:
        c4.enough_sentences = saved


def main() -> None:
    from run_all import publish

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000, help="documents per corpus")
    ap.add_argument("--no-write", action="store_true", help="don't write bench/results/sentences.md")
    args = ap.parse_args()
    old_ends = end_chars()
    speed_rows, c4_rows, change_rows, samples = [], [], [], []
    for name, lang in SETS:
        docs = load(name, lang, args.docs)
        lines = [(lang_of(d), line) for d in docs for line in kept_lines(d["text"])]
        chars = sum(len(line) for _, line in lines)
        t_re, n_re = timed(lambda lines=lines: sum(old_count(line) for _, line in lines))
        t_sx, n_sx = timed(lambda lines=lines: sum(count_sentences(line, lg) for lg, line in lines))
        speed_rows.append((name, len(lines), chars, t_re, t_sx, n_re, n_sx))
        t_old, v_old = verdicts(docs, old_enough)
        t_full, v_full = verdicts(docs, full_enough)
        t_new, v_new = verdicts(docs, c4.enough_sentences)
        assert v_full == v_new, "lazy splitting must give the full count's verdicts"
        c4_rows.append((name, len(docs), t_old, t_full, t_new))
        c4_changed = [(d, a, b) for d, a, b in zip(docs, v_old, v_new) if a != b]
        samples += [(name, d["id"], a, b) for d, a, b in c4_changed[:2]]
        fw_new = FineWebQuality()
        fw_old = FineWebQuality(stop_chars="".join(sorted(old_ends)))
        fw_changed = sum(fw_old.keep(dict(d)) != fw_new.keep(dict(d)) for d in docs)
        kept_old = sum(v is True for v in v_old)
        kept_new = sum(v is True for v in v_new)
        change_rows.append((name, len(docs), len(c4_changed), kept_old, kept_new, fw_changed))
        print(name, speed_rows[-1][1:], c4_rows[-1][1:], change_rows[-1][1:], flush=True)

    lines = ["# Sentence counting for c4_quality: sentencex vs the regex it replaced", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}. "
             f"Run: `bench/bench_sentences.py --docs {args.docs}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Up to {args.docs:,} documents per corpus from /work/shared/corpora; best of 3 timings.", "",
             "## Splitter alone, on the lines c4_quality keeps", "",
             "| corpus | lines | chars | regex s | sentencex s | sentencex / regex | sentences (regex) | sentences (sentencex) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, n, chars, t_re, t_sx, n_re, n_sx in speed_rows:
        lines.append(f"| {name} | {n:,} | {chars:,} | {t_re:.3f} | {t_sx:.3f} | {t_sx / max(t_re, 1e-9):.1f}x | "
                     f"{n_re:,} | {n_sx:,} |")
    lines += ["", "## c4_quality, whole documents", "",
              "Old = the previous operator (regex count of every kept line); full = sentencex on every kept "
              "line; shipped = sentencex, splitting only while the kept lines not yet split could not make up "
              "the minimum (the same verdicts as full, asserted).", "",
              "| corpus | docs | old docs/s | full split docs/s | shipped docs/s | shipped / old time |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, n, t_old, t_full, t_new in c4_rows:
        lines.append(f"| {name} | {n:,} | {n / t_old:,.0f} | {n / t_full:,.0f} | {n / t_new:,.0f} | "
                     f"{t_new / t_old:.2f} |")
    lines += ["", "## Which outputs change", "",
              "c4_quality: documents whose verdict differs between the old count and sentencex (kept before → "
              "kept after). fineweb_quality: documents whose verdict differs between the old terminal "
              "characters (every Unicode sentence terminator plus \" ' ” ’ 」 』) and the new default "
              "(FineWeb-2's list, no quotes).", "",
              "| corpus | docs | c4_quality changed | c4 kept before | c4 kept after | fineweb_quality changed |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, n, changed, kept_old, kept_new, fw_changed in change_rows:
        lines.append(f"| {name} | {n:,} | {changed:,} ({changed / n:.1%}) | {kept_old:,} | {kept_new:,} | "
                     f"{fw_changed:,} ({fw_changed / n:.1%}) |")
    if samples:
        lines += ["", "c4_quality verdicts that changed (first two per corpus): "
                  + "; ".join(f"`{doc_id}` {a} → {b}" for _, doc_id, a, b in samples[:12])]
    lines += ["", "## c4_quality per language, pages of three long lines", "",
              "Pages of three consecutive Debian Handbook paragraphs of one language, each paragraph one "
              "line: fewer than five kept lines, so the shipped operator splits them.", "",
              "| lang | pages | old docs/s | shipped docs/s | shipped / old time |", "|---|---:|---:|---:|---:|"]
    for lang, n, t_old, t_new in per_language(LANG_PAGES):
        lines.append(f"| {lang} | {n:,} | {n / t_old:,.0f} | {n / t_new:,.0f} | {t_new / t_old:.2f} |")
    publish(lines, RESULTS, write=not args.no_write)


LANG_PAGES = ["en", "de", "fr", "it", "ca", "da", "pl", "ru", "zh", "ja", "ar"]


def per_language(langs: list[str], max_pages: int = 500) -> list[tuple[str, int, float, float]]:
    paragraphs: dict[str, list[str]] = {lang: [] for lang in langs}
    with gzip.open(os.path.join(CORPORA, "multi_debian_handbook_paragraphs.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["lang"] in paragraphs and len(paragraphs[rec["lang"]]) < 3 * max_pages:
                paragraphs[rec["lang"]].append(rec["text"].replace("\n", " "))
    rows = []
    for lang in langs:
        paras = paragraphs[lang]
        pages = [{"id": str(i), "text": "\n".join(paras[i:i + 3]), "source": "handbook", "meta": "{}", "lang": lang}
                 for i in range(0, len(paras) - 2, 3)]
        if not pages:
            continue
        t_old, _ = verdicts(pages, old_enough)
        t_new, _ = verdicts(pages, c4.enough_sentences)
        rows.append((lang, len(pages), t_old, t_new))
        print(lang, rows[-1][1:], flush=True)
    return rows


if __name__ == "__main__":
    main()
