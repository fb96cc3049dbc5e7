"""PII: recall per kind and look-alike survival on a planted set, findings on real corpora, speed vs datatrove.

    .venv/bin/python bench/bench_pii.py [--quick]

1. tests/pii_set.py plants PII (email, phone, IPv4/6, cards, Chinese IDs) and look-alikes
   (versions, dates, times, prices, sections, bad-checksum IDs, non-Luhn numbers, ISBN/MAC/...)
   into real English and Chinese paragraphs; Garden's `pii` (replace mode) must remove every PII
   item with its typed placeholder and leave every look-alike intact. datatrove's PIIFormatter
   (emails and public IPv4 only, by design) runs on the same set for reference.
2. Findings on real corpora with no planted data, per kind, with samples to read: false
   positives show up here.
3. Speed of both, in-process, on the English corpora.
Figures go to bench/results/pii.md.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import pii_set  # noqa: E402
from bench_filters import ensure_datatrove  # noqa: E402
from operators.pii import KINDS, find_pii  # noqa: E402
from operators.pii.redact import Pii  # noqa: E402

CORPORA = "/work/shared/corpora"
REAL = ["en_linux_doc_rst", "en_python_doc_rst", "code_python_stdlib", "zh_linux_doc_rst", "zh_manpages",
        "multi_debian_handbook_paragraphs"]
SPEED = ["en_linux_doc_rst", "en_python_doc_rst", "en_fortunes", "en_dict_foldoc"]
WORK = os.path.join(ROOT, "bench", "_work", "pii")
RESULTS = os.path.join(ROOT, "bench", "results", "pii.md")

DT_SCRIPT = r'''
import json, sys, time
from datatrove.pipeline.formatters import PIIFormatter
if __name__ == "__main__":
    fmt = PIIFormatter()
    cases = [json.loads(l) for l in open(sys.argv[1])]
    with open(sys.argv[2], "w") as out:
        for c in cases:
            out.write(json.dumps(fmt.format(c["text"]), ensure_ascii=False) + "\n")
    texts = [json.loads(l)["text"] for l in open(sys.argv[3])]
    start = time.perf_counter()
    for t in texts:
        fmt.format(t)
    print(time.perf_counter() - start)
'''


def read_corpus(name: str, every: int = 1) -> list[str]:
    with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for i, line in enumerate(fh) if i % every == 0]


def redactor(op: Pii):
    def run(text: str) -> str:
        doc = {"id": "x", "text": text, "source": "s", "meta": "{}"}
        op.keep(doc)
        return doc["text"]
    return run


def score_outputs(cases: list, outputs: list[str], kinds: set[str]) -> dict[str, tuple[int, int]]:
    """datatrove replaces with fake addresses, not typed placeholders: PII counts as found when gone."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, out in zip(cases, outputs):
        for item in case.planted:
            if item.is_pii and item.kind not in kinds:
                continue
            ok = (item.value not in out) if item.is_pii else (item.value in out)
            hits[item.kind][0] += ok
            hits[item.kind][1] += 1
    return {k: (ok, n) for k, (ok, n) in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller planted set, every 10th document")
    args = parser.parse_args()
    per_kind = 300 if args.quick else 1000
    every = 10 if args.quick else 1
    os.makedirs(WORK, exist_ok=True)

    op = Pii()
    cases = pii_set.build_set(seed=0, per_kind=per_kind)
    ours = pii_set.evaluate(cases, redactor(op))

    # datatrove on the same planted set and the same speed corpus
    py = ensure_datatrove()
    cases_path = os.path.join(WORK, "cases.jsonl")
    with open(cases_path, "w", encoding="utf-8") as fh:
        for c in cases:
            fh.write(json.dumps({"id": c.id, "text": c.text}, ensure_ascii=False) + "\n")
    speed_texts = [t for name in SPEED for t in read_corpus(name, every)]
    speed_path = os.path.join(WORK, "speed.jsonl")
    with open(speed_path, "w", encoding="utf-8") as fh:
        for t in speed_texts:
            fh.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    script = os.path.join(WORK, "dt_pii.py")
    with open(script, "w") as fh:
        fh.write(DT_SCRIPT)
    dt_out = os.path.join(WORK, "dt_out.jsonl")
    proc = subprocess.run([py, script, cases_path, dt_out, speed_path], check=True, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    dt_seconds = float(proc.stdout.strip().splitlines()[-1])
    dt_scores = score_outputs(cases, [json.loads(line) for line in open(dt_out, encoding="utf-8")], {"email", "ipv4"})

    start = time.perf_counter()
    run = redactor(op)
    for t in speed_texts:
        run(t)
    g_seconds = time.perf_counter() - start
    mb = sum(len(t.encode("utf-8")) for t in speed_texts) / 1e6

    # real corpora: what is found where nothing was planted
    real_counts: dict[str, Counter] = {}
    samples: dict[str, list[str]] = defaultdict(list)
    rng = random.Random(0)
    for name in REAL:
        counts: Counter = Counter()
        texts = read_corpus(name, every)
        for t in texts:
            for s in find_pii(t, list(KINDS)):
                counts[s.kind] += 1
                if rng.random() < 0.05 and len(samples[s.kind]) < 8:
                    samples[s.kind].append(t[max(0, s.start - 25):s.end + 15].replace("\n", " ").replace("|", "\\|"))
        real_counts[name] = counts
        real_counts[name]["docs"] = len(texts)

    lines = [
        "# PII: recall, look-alike survival, real-text findings, speed",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}. "
        f"Run: `bench/bench_pii.py{' --quick' if args.quick else ''}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"## Planted set ({len(cases):,} real paragraphs from the Debian Handbook, English and Chinese; "
        f"{per_kind} items per kind, seed 0)",
        "Garden `pii` in replace mode. Recall: the value is gone and its typed placeholder is in the text. "
        "Survival: the look-alike is still there verbatim. datatrove `PIIFormatter()` (defaults) on the same "
        "texts: it only handles emails and *public* IPv4 addresses (private 10/172.16/192.168 ranges are kept by design).",
        "",
        "| kind | items | Garden | datatrove |",
        "|---|---|---|---|",
    ]
    for kind in list(pii_set.PII_KINDS):
        s = ours[kind]
        dt = dt_scores.get(kind)
        dt_txt = f"{dt[0] / dt[1]:.1%}" if dt else "not handled"
        lines.append(f"| {kind} (recall) | {s['n']} | {s['rate']:.1%} | {dt_txt} |")
    for kind in pii_set.LOOKALIKE_GENERATORS:
        s = ours[kind]
        dt = dt_scores[kind]
        lines.append(f"| {kind} (look-alike survival) | {s['n']} | {s['rate']:.1%} | {dt[0] / dt[1]:.1%} |")
    lines += [
        "",
        "Caveat: the generator and the detector were written by the same engineer; formats outside the "
        "generator (e.g. phone numbers without any separator other than North-American or Chinese mobiles, "
        "obfuscated emails such as `name at example dot com`) are not measured here.",
        "",
        "## Findings on real corpora (nothing planted)",
        "",
        "| corpus | docs | " + " | ".join(KINDS) + " |",
        "|---|---|" + "---|" * len(KINDS),
    ]
    for name, counts in real_counts.items():
        lines.append(f"| {name} | {counts['docs']:,} | " + " | ".join(str(counts.get(k, 0)) for k in KINDS) + " |")
    lines += ["", "Random samples of findings (context around the match), to judge false positives:", ""]
    for kind in KINDS:
        for snippet in samples.get(kind, []):
            lines.append(f"- {kind}: `{snippet}`")
    lines += [
        "",
        "## Speed (in-process, one core, English corpora)",
        "",
        f"{len(speed_texts):,} docs, {mb:.1f} MB ({', '.join(SPEED)}).",
        "",
        "| tool | kinds | docs/s | MB/s |",
        "|---|---|---|---|",
        f"| Garden `pii` (replace) | {len(op._kinds)} kinds | {len(speed_texts) / g_seconds:,.0f} | {mb / g_seconds:.2f} |",
        f"| datatrove `PIIFormatter` | email, IPv4 | {len(speed_texts) / dt_seconds:,.0f} | {mb / dt_seconds:.2f} |",
        "",
    ]
    from run_all import publish

    publish(lines, RESULTS)


if __name__ == "__main__":
    main()
