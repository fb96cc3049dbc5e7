"""Engine benchmarks (issue: core engine): I/O floor, worker scaling, peak RSS per worker.

- I/O floor: `garden run` with an empty pipeline (read → write parquet) vs a single-process
  `json.loads` loop and vs pyarrow's JSON reader over the same file, in the same run.
- Scaling: wall time with 1 and 2 workers on the same input.
- Memory: peak RSS of the largest worker for a 100 MB and a 1 GB input.

Input: the English corpora of ../shared/corpora (or the demo corpus when absent), repeated with
fresh ids until the target size is reached. Usage: python bench/bench_engine.py [--quick]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, "_work", "engine")
SHARED = os.path.join(REPO, "..", "shared", "corpora")
ENGLISH = ["en_linux_doc_rst", "en_python_doc_rst", "en_fortunes", "en_dict_foldoc"]


def source_docs() -> list[dict]:
    docs = []
    for name in ENGLISH:
        path = os.path.join(SHARED, f"{name}.jsonl.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                docs.extend(json.loads(line) for line in fh)
    if not docs:
        demo = os.path.join(REPO, "recipes", "data", "demo")
        for f in sorted(os.listdir(demo)):
            if f.endswith(".jsonl.gz"):
                with gzip.open(os.path.join(demo, f), "rt", encoding="utf-8") as fh:
                    docs.extend(json.loads(line) for line in fh)
    return docs


def make_input(path: str, target_bytes: int, docs: list[dict] | None = None) -> int:
    """A plain JSONL file of about `target_bytes`: `docs` (default: source_docs()) repeated with fresh ids."""
    if os.path.exists(path) and os.path.getsize(path) >= target_bytes:
        return os.path.getsize(path)
    docs = docs if docs is not None else source_docs()
    written, rep = 0, 0
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        while written < target_bytes:
            for d in docs:
                line = json.dumps({**d, "id": f"{d['id']}#{rep}"}, ensure_ascii=False) + "\n"
                fh.write(line)
                written += len(line.encode())
                if written >= target_bytes:
                    break
            rep += 1
    os.replace(path + ".tmp", path)
    return os.path.getsize(path)


RUNNER = r"""
import json, resource, sys, time
from garden.recipe import load_recipe
from garden.api import run_recipe
recipe = load_recipe(sys.argv[1], overrides={"workers": int(sys.argv[2]), "output": sys.argv[3]})
t = time.perf_counter()
stats = run_recipe(recipe, resume=False)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "docs": stats["kept_docs"],
                  "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def garden_run(input_path: str, workers: int, out: str, pipeline: list) -> dict:
    import yaml

    recipe = os.path.join(WORK, "recipe.yaml")
    with open(recipe, "w") as fh:
        yaml.safe_dump({"name": "bench", "inputs": [{"path": input_path, "source": "en"}], "output": out,
                        "pipeline": pipeline, "shard_size": "8MB"}, fh)
    proc = subprocess.run([sys.executable, "-c", RUNNER, recipe, str(workers), out], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def json_loop(path: str) -> float:
    t = time.perf_counter()
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            obj = json.loads(line)
            n += len(obj["text"])
    return time.perf_counter() - t


def pyarrow_json(path: str) -> float:
    import pyarrow.json as pj

    t = time.perf_counter()
    pj.read_json(path, read_options=pj.ReadOptions(block_size=16 << 20))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20 MB and 100 MB instead of 100 MB and 1 GB")
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    small, large = (20 << 20, 100 << 20) if args.quick else (100 << 20, 1 << 30)
    p_small = os.path.join(WORK, f"en-{small >> 20}MB.jsonl")
    p_large = os.path.join(WORK, f"en-{large >> 20}MB.jsonl")
    mb_small = make_input(p_small, small) / 1e6
    mb_large = make_input(p_large, large) / 1e6
    out = os.path.join(WORK, "out")

    floor = {
        "python json.loads loop (1 process)": mb_small / json_loop(p_small),
        "pyarrow.json.read_json (multi-threaded)": mb_small / pyarrow_json(p_small),
    }
    r1 = garden_run(p_small, 1, out, [])
    r2 = garden_run(p_small, 2, out, [])
    floor["garden run, empty pipeline, 1 worker"] = mb_small / r1["seconds"]
    floor["garden run, empty pipeline, 2 workers"] = mb_small / r2["seconds"]
    base = floor["python json.loads loop (1 process)"]

    filt = [{"normalize": {}}, {"length_filter": {"min_words": 5}}]
    f1 = garden_run(p_small, 1, out, filt)
    f2 = garden_run(p_small, 2, out, filt)
    big = garden_run(p_large, 2, out, [])

    lines = [
        "## Engine: I/O floor, scaling, memory (bench/bench_engine.py)\n",
        f"Input: English corpora of shared/corpora repeated to {mb_small:.0f} MB and {mb_large:.0f} MB of JSONL "
        "(plain, uncompressed); output parquet (zstd). One run, same files for every row.\n",
        "| reader | MB/s | vs json.loads loop |", "|---|---:|---:|",
    ]
    for name, rate in floor.items():
        lines.append(f"| {name} | {rate:.1f} | {rate / base:.2f}× |")
    lines += [
        "",
        "Garden's rate includes writing parquet, id generation, meta JSON, accounting and the "
        "completion markers; the json.loads loop only parses. pyarrow's reader uses all cores and "
        "builds columns in C++ but has no per-record error isolation (one bad line fails the block).\n",
        "| scaling (same input) | 1 worker | 2 workers | speed-up |", "|---|---:|---:|---:|",
        f"| empty pipeline, {mb_small:.0f} MB | {r1['seconds']:.1f} s | {r2['seconds']:.1f} s | {r1['seconds'] / r2['seconds']:.2f}× |",
        f"| normalize + length_filter, {mb_small:.0f} MB | {f1['seconds']:.1f} s | {f2['seconds']:.1f} s | {f1['seconds'] / f2['seconds']:.2f}× |",
        "",
        "| peak RSS, 2 workers, empty pipeline | input | largest worker | driver |", "|---|---:|---:|---:|",
        f"| small | {mb_small:.0f} MB | {r2['worker_rss_mb']:.0f} MB | {r2['driver_rss_mb']:.0f} MB |",
        f"| large | {mb_large:.0f} MB | {big['worker_rss_mb']:.0f} MB | {big['driver_rss_mb']:.0f} MB |",
        "",
        f"Peak worker RSS ratio large/small: {big['worker_rss_mb'] / r2['worker_rss_mb']:.2f} "
        f"for a {mb_large / mb_small:.0f}× larger input (workers stream 8 MB shards in batches of 2,000 docs).",
        f"Large input wall time with 2 workers: {big['seconds']:.1f} s ({mb_large / big['seconds']:.1f} MB/s).\n",
    ]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "engine.md"), "w") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
