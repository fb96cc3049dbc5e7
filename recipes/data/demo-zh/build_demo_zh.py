"""Build recipes/data/demo-zh from the shared corpora (run from the repo root; needs /work/shared/corpora).

    python recipes/data/demo-zh/build_demo_zh.py

clean.jsonl.gz: Chinese paragraphs (bench/zh_paragraphs.py: consecutive sentences of one
document joined to ≥ 200 characters), 10 of them twice (exact duplicates for exact_dedup).
corrupted.jsonl.gz: 60 of the clean paragraphs of each source, 20 per kind of corruption
(field `corruption`): every line repeated, short lines without punctuation, symbol noise.
"""
from __future__ import annotations

import gzip
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import zh_paragraphs  # noqa: E402

OUT = os.path.join(ROOT, "recipes", "data", "demo-zh")
LICENCES = {"zh_manpages": "mixed per page (GPL/GFDL/BSD; Debian manpages-zh copyright)",
            "zh_linux_doc_rst": "GPL-2.0", "multi_debian_handbook_paragraphs": "CC-BY-SA-3.0 or GPL-2.0+"}


def write(name: str, rows: list[dict]) -> None:
    path = os.path.join(OUT, name)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))


def main() -> None:
    rng = random.Random(16)
    paras = zh_paragraphs.clean_paragraphs(per_source=100_000, seed=16)
    by_source: dict[str, list[dict]] = {}
    for p in paras:
        by_source.setdefault(p["source"], []).append(p)
    clean, corrupted = [], []
    for source, rows in sorted(by_source.items()):
        rng.shuffle(rows)
        for p in rows[:80]:
            clean.append({"id": p["id"], "text": p["text"], "origin": source, "license": LICENCES[source]})
        for i, p in enumerate(rows[:60]):
            kind = zh_paragraphs.CORRUPTIONS[i % 3]
            corrupted.append({"id": p["id"] + f":{kind}", "text": zh_paragraphs.corrupt(p["text"], kind, i), "corruption": kind,
                              "origin": source, "license": LICENCES[source]})
    for p in rng.sample(clean, 10):
        clean.append({**p, "id": p["id"] + ":copy"})
    write("clean.jsonl.gz", clean)
    write("corrupted.jsonl.gz", corrupted)
    print(len(clean), "clean,", len(corrupted), "corrupted")


if __name__ == "__main__":
    main()
