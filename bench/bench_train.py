"""Trainer throughput: tokens/s per TP x PP x DP layout through the real `garden train` path.

Each layout is one `python -m trainer` launch (torchrun, gloo on CPU / nccl on GPU) on the same
synthetic shards; tokens/s is the median over logging intervals after the first (warm-up).
Startup (imports, process groups) is reported separately because on small CPUs it dominates.

    python bench/bench_train.py [--preset tiny] [--iters 30] [--layouts tp1,dp2,tp2,pp2,tp2pp2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work" / "train"
RESULTS = REPO / "bench" / "results" / "train.md"

LAYOUTS = {  # name -> (nproc, overrides)
    "tp1": (1, []),
    "tp1-1thread": (1, []),  # OMP_NUM_THREADS=1: the per-process setting torchrun uses for N>1
    "dp2": (2, []),
    "tp2": (2, ["parallel.tp=2"]),
    "pp2": (2, ["parallel.pp=2"]),
    "pp2vpp2": (2, ["parallel.pp=2", "parallel.vpp=2"]),
    "tp2pp2": (4, ["parallel.tp=2", "parallel.pp=2"]),
    "tp2dp2": (4, ["parallel.tp=2"]),
}


def make_data(root: Path, docs: int = 2000, vocab: int = 4096) -> Path:
    """Synthetic shards (random-walk token documents) + blend.json, built once."""
    blend = root / "blend.json"
    if blend.exists():
        return blend
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    b = IndexedDatasetBuilder(str(root / "synth.bin"), dtype=np.uint16)
    total = 0
    for _ in range(docs):
        n = int(rng.integers(100, 800))
        doc = (np.cumsum(rng.integers(-3, 4, n)) % (vocab - 1) + 1).astype(np.uint16)
        doc = np.append(doc, np.uint16(0))
        b.add_document(doc, [len(doc)])
        total += len(doc)
    b.finalize(str(root / "synth.idx"))
    blend.write_text(json.dumps({
        "version": 1, "tokenizer": {"vocab_size": vocab, "eod_id": 0}, "dtype": "uint16",
        "sources": {"synth": {"prefix": "synth", "documents": docs, "tokens": total}},
        "split": "100,0,0",
        "phases": [{"name": "main", "tokens": total, "weights": {"synth": 1.0}}]}))
    return blend


def run_layout(name: str, blend: Path, args) -> dict:
    nproc, overrides = LAYOUTS[name]
    run_dir = WORK / f"run-{args.preset}-{name}"
    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    cmd = [sys.executable, "-m", "trainer", str(REPO / "recipes" / "train-tiny.yaml"),
           "--nproc", str(nproc), f"data.blend={blend}", f"run_dir={run_dir}",
           f"model.preset={args.preset}", f"training.train_iters={args.iters}",
           f"training.seq_len={args.seq_len}", f"training.micro_batch={args.micro_batch}",
           f"training.global_batch={args.global_batch}", "checkpoint.interval=0",
           f"logging.interval={args.log_interval}", *overrides]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if name.endswith("-1thread"):
        env["OMP_NUM_THREADS"] = "1"
    t0 = time.time()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=1800)
    wall = time.time() - t0
    if r.returncode != 0:
        return {"layout": name, "nproc": nproc, "error": (r.stdout + r.stderr)[-2000:]}
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    tps = [row["tokens_per_s"] for row in rows[1:]] or [rows[0]["tokens_per_s"]]
    m = re.search(r"startup: imports\+process groups ([\d.]+)s", r.stdout)
    return {"layout": name, "nproc": nproc, "tokens_per_s": statistics.median(tps),
            "final_loss": rows[-1]["loss"], "wall_s": wall,
            "startup_s": float(m.group(1)) if m else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--global-batch", type=int, default=16)
    ap.add_argument("--log-interval", type=int, default=5)
    ap.add_argument("--layouts", default="tp1,dp2,tp2,pp2,pp2vpp2,tp2pp2")
    ap.add_argument("--no-write", action="store_true", help="don't write bench/results/train.md")
    args = ap.parse_args()
    import warnings

    warnings.filterwarnings("ignore")
    blend = make_data(WORK / "data")
    load_before = os.getloadavg()[0]
    results = []
    for name in args.layouts.split(","):
        res = run_layout(name, blend, args)
        results.append(res)
        print(json.dumps(res), flush=True)
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else \
        f"CPU ({os.cpu_count()} cores)"
    lines = [f"# garden train throughput ({args.preset}, {device})", "",
             f"seq_len {args.seq_len}, micro batch {args.micro_batch}, global batch "
             f"{args.global_batch} ({args.seq_len * args.global_batch} tokens/iteration), "
             f"{args.iters} iterations, median tokens/s over logging intervals after the first. "
             f"Load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
             f"(anything above the core count means other work shared the CPUs).",
             "", "| layout | processes | tokens/s | final loss | startup s | wall s |",
             "|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['layout']} | {r['nproc']} | failed | | | |")
        else:
            lines.append(f"| {r['layout']} | {r['nproc']} | {r['tokens_per_s']:,.0f} | "
                         f"{r['final_loss']:.4f} | {r['startup_s']} | {r['wall_s']:.1f} |")
    from run_all import publish

    publish(lines, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
