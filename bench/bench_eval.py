"""`garden eval` throughput (tokens/s) for the tiny and 125m presets, against the raw model forward.

For each preset: a 1-iteration `garden train` run writes a checkpoint (the weights do not matter
for speed), then `garden eval RUN held-out-shard` is timed end to end in its scoring phase (reading
documents, windows, forward, cross entropy; model loading is reported apart).  The peer is the
same megatron GPTModel, loaded the same way, timed on full random windows of the same shape with
nothing else: the ratio eval / raw is what garden eval's own work costs.  Each is run with torch's
default threads and with one thread (on a shared CPU one thread is often faster).

    python bench/bench_eval.py [--presets tiny,125m] [--seq-len 256] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work" / "eval"
RESULTS = REPO / "bench" / "results" / "eval.md"
DOCS = {"tiny": 200, "125m": 24}  # held-out documents (100-800 tokens each) per preset
sys.path.insert(0, str(REPO / "bench"))


def held_out(root: Path, docs: int, vocab: int = 4096) -> Path:
    """A held-out shard like bench_train's synthetic data (random-walk documents + EOD)."""
    from garden.megatron_format import IndexedDatasetWriter

    prefix = root / f"valid_{docs}"
    if (root / f"valid_{docs}.idx").exists():
        return prefix
    rng = np.random.default_rng(1)
    w = IndexedDatasetWriter(str(prefix), np.uint16)
    for _ in range(docs):
        n = int(rng.integers(100, 800))
        w.add_document(np.append((np.cumsum(rng.integers(-3, 4, n)) % (vocab - 1) + 1), 0))
    w.finalize()
    return prefix


def train_checkpoint(preset: str, blend: Path, seq_len: int) -> Path:
    run_dir = WORK / f"run-{preset}-{seq_len}"
    if (run_dir / "checkpoints" / "latest").exists():
        return run_dir
    cmd = [sys.executable, "-m", "trainer", str(REPO / "recipes" / "train-tiny.yaml"), f"data.blend={blend}",
           f"run_dir={run_dir}", f"model.preset={preset}", "training.train_iters=1",
           f"training.seq_len={seq_len}", "training.micro_batch=1", "training.global_batch=1",
           "checkpoint.interval=0"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600,
                       env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))
    if r.returncode != 0:
        raise SystemExit(f"training {preset} failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return run_dir


def garden_eval(run_dir: Path, shard: Path, threads: int | None) -> dict:
    cmd = [sys.executable, "-m", "garden", "eval", str(run_dir), str(shard), "--json", str(WORK / "out.json")]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"garden eval failed:\n{r.stderr[-3000:]}")
    m = re.search(r"([\d,]+) tokens in ([\d.]+)s", r.stderr)
    load = re.search(r"loaded in ([\d.]+)s", r.stderr)
    tokens, seconds = int(m.group(1).replace(",", "")), float(m.group(2))
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "load_s": float(load.group(1)), "wall_s": wall,
            "loss": json.loads((WORK / "out.json").read_text())["overall"]["loss"]}


def raw_forward(run_dir: Path, seq_len: int, batch: int, tokens: int, threads: int | None) -> float:
    """Tokens/s of the bare forward on full windows (a subprocess, like garden eval)."""
    cmd = [sys.executable, __file__, "--raw", str(run_dir), str(seq_len), str(batch), str(tokens),
           str(threads or 0)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if r.returncode != 0:
        raise SystemExit(f"raw forward failed:\n{r.stderr[-3000:]}")
    return float(r.stdout.strip().splitlines()[-1])


def _raw(run_dir: str, seq_len: int, batch: int, tokens: int, threads: int) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    from trainer.restore import find_checkpoint, megatron_model, read_info

    if threads:
        torch.set_num_threads(threads)
    model = megatron_model(read_info(find_checkpoint(run_dir)))
    x = torch.randint(1, 4000, (batch, seq_len))
    pos = torch.arange(seq_len).unsqueeze(0).expand_as(x)
    steps = max(1, tokens // (batch * seq_len))
    with torch.inference_mode():
        model(x, pos, None)  # warm-up
        t0 = time.time()
        for _ in range(steps):
            model(x, pos, None)
        dt = time.time() - t0
    print(steps * batch * seq_len / dt)


def main() -> None:
    from run_all import publish

    if len(sys.argv) > 1 and sys.argv[1] == "--raw":
        _raw(sys.argv[2], *map(int, sys.argv[3:7]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,125m")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--no-write", action="store_true", help="don't write bench/results/eval.md")
    args = ap.parse_args()
    from bench_train import make_data  # the synthetic training shards bench_train uses

    WORK.mkdir(parents=True, exist_ok=True)
    blend = make_data(WORK / "data")
    load_before = os.getloadavg()[0]
    rows = []
    for preset in args.presets.split(","):
        shard = held_out(WORK / "data", DOCS[preset])
        run_dir = train_checkpoint(preset, blend, args.seq_len)
        batch = max(1, 8192 // args.seq_len)  # garden eval's default
        for threads in (None, 1):
            res = garden_eval(run_dir, shard, threads)
            res["raw_tokens_per_s"] = raw_forward(run_dir, args.seq_len, batch, res["tokens"], threads)
            res.update(preset=preset, threads=threads or f"default ({os.cpu_count()} cores)")
            print(json.dumps(res), flush=True)
            rows.append(res)
    lines = [f"# garden eval throughput (CPU, {os.cpu_count()} cores)", "",
             f"Windows of {args.seq_len} tokens, {8192 // args.seq_len} windows per forward (the default "
             f"8,192 tokens), a held-out shard of random-walk documents of 100-800 tokens (no tokenizer, so "
             f"no byte counting). eval = `garden eval`'s scoring phase (read, window, forward, cross "
             f"entropy); raw = the same loaded GPTModel's forward alone on full random windows. Load "
             f"average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} (above the core "
             f"count = other work shared the CPUs).", "",
             "| preset | threads | tokens | eval tokens/s | raw forward tokens/s | eval / raw | model load s | wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['threads']} | {r['tokens']:,} | {r['tokens_per_s']:,.0f} | "
                     f"{r['raw_tokens_per_s']:,.0f} | {r['tokens_per_s'] / r['raw_tokens_per_s']:.2f} | "
                     f"{r['load_s']:.1f} | {r['wall_s']:.1f} |")
    publish(lines, RESULTS, write=not args.no_write)


if __name__ == "__main__":
    main()
