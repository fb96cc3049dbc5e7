"""Cost of an input's identity (issue: trustworthy runs): what resume pays to notice a changed input.

On one 1 GB JSONL file (the English corpora of ../shared/corpora repeated, as bench_engine
builds it), in the same run: `os.stat` (what Garden used before: size + mtime), the default
sampled fingerprint (about 3 MiB read), the full-content hash of `--verify-inputs`, and a raw
read of the file without hashing as the floor a full hash cannot beat. Warm page cache (the
file was just written); a cold read is bounded by the disk instead, which makes the full hash
cost a disk pass and leaves the sampled fingerprint at 18 small reads.

Usage: python bench/bench_input_identity.py [--quick]  (--quick: 100 MB)
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from bench_engine import WORK, make_input  # noqa: E402
from garden.io import identity  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def raw_read(path: str) -> None:
    with open(path, "rb") as fh:
        while fh.read(8 << 20):
            pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    target = (100 if args.quick else 1024) << 20
    path = os.path.join(WORK, f"identity-{target >> 20}MB.jsonl")
    size = make_input(path, target)
    raw_read(path)  # warm the cache so every row reads the same way
    rows = [
        ("os.stat: size + mtime (before)", best_of(lambda: os.stat(path), 20)),
        ("sampled fingerprint (default)", best_of(lambda: identity.sampled_fingerprint(path), 5)),
        ("full hash, SHA-256 (--verify-inputs)", best_of(lambda: identity.content_hash(path), 2)),
        ("raw read, no hash (floor)", best_of(lambda: raw_read(path), 2)),
    ]
    floor = rows[-1][1]
    lines = ["## Input identity (trustworthy runs)", "",
             f"`python bench/bench_input_identity.py` on one {size / 2**30:.2f} GiB JSONL file (English corpora repeated), "
             "warm page cache, best of several runs; the ratio is against reading the file without hashing, in the same run.", "",
             "| identity | seconds | MB/s | × raw read |", "|---|---:|---:|---:|"]
    for name, secs in rows:
        lines.append(f"| {name} | {secs:.6f} | {size / secs / 1e6:,.0f} | {secs / floor:.4f} |")
    lines += ["", f"Sampled fingerprint reads {sum(e - s for s, e in identity._sample_ranges(size)) / 2**20:.1f} MiB "
              "of the file whatever its size. It misses only an edit that keeps size and mtime and touches none "
              "of the sampled bytes; `--verify-inputs` misses nothing and costs one more read of every input per run.", ""]
    from run_all import publish

    publish(lines, os.path.join(HERE, "results", "input_identity.md"))


if __name__ == "__main__":
    main()
