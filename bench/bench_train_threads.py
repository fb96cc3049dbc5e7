"""CPU threads per trainer process: demo-sized step time with 1 thread, with cores // processes
threads as torch runs them by default (OpenMP threads spin), and with `garden train`'s default
now (cores // processes, OMP_WAIT_POLICY=PASSIVE).

The runs alternate (A B C A B C ...) so a change in the machine's load hits every setting alike;
the ratio against 1 thread per process is taken within the same round.

    python bench/bench_train_threads.py [--iters 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import REPO, WORK, make_data  # noqa: E402

RESULTS = REPO / "bench" / "results" / "train_threads.md"


def settings() -> dict[str, dict[str, str]]:
    """OMP_WAIT_POLICY='' keeps libgomp's own default (threads spin before they sleep): what
    `garden train` ran with before it set PASSIVE."""
    cores = len(os.sched_getaffinity(0))
    return {"1 thread": {"OMP_NUM_THREADS": "1"},
            f"{cores} threads, OpenMP spinning (the old default)": {"OMP_WAIT_POLICY": ""},
            f"{cores} threads, OMP_WAIT_POLICY=PASSIVE (the default now)": {}}


def run(name: str, extra: dict[str, str], blend: Path, args) -> dict:
    run_dir = WORK / "threads" / "".join(c if c.isalnum() else "_" for c in name)
    subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(extra, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "trainer", str(REPO / "recipes/train-tiny.yaml"),
           f"data.blend={blend}", f"run_dir={run_dir}", f"training.train_iters={args.iters}",
           "checkpoint.interval=0", "eval.interval=0", f"logging.interval={args.log_interval}"]
    t0 = time.time()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        return {"setting": name, "error": (r.stdout + r.stderr)[-1500:]}
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    tps = statistics.median(row["tokens_per_s"] for row in rows[1:])
    return {"setting": name, "tokens_per_s": tps, "step_s": 2048 / tps, "wall_s": time.time() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=16)
    ap.add_argument("--log-interval", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    demo = REPO / "out" / "demo" / "blend.json"  # `make demo`'s shards when they exist
    blend = demo if demo.exists() else make_data(WORK / "data")
    load_before = os.getloadavg()[0]
    rounds = []
    for _ in range(args.rounds):
        rounds.append([run(name, extra, blend, args) for name, extra in settings().items()])
        print(json.dumps(rounds[-1]), flush=True)
    lines = [f"# garden train: CPU threads per process ({len(os.sched_getaffinity(0))} cores)", "",
             f"tiny preset on {'the demo shards' if blend == demo else 'synthetic shards'}, the "
             "demo's shape (seq_len 128, global batch 16: 2,048 tokens per step), "
             f"{args.iters} iterations, 1 process; median step time over logging intervals after "
             f"the first. Load average (1 min) before/after: {load_before:.1f}/"
             f"{os.getloadavg()[0]:.1f} (above the core count: other work shared the CPUs).", "",
             "| round | setting | step s | tokens/s | step time / 1 thread's |", "|---|---|---:|---:|---:|"]
    for i, results in enumerate(rounds, 1):
        base = results[0].get("step_s")
        for r in results:
            if "error" in r:
                lines.append(f"| {i} | {r['setting']} | failed | | |")
                continue
            ratio = f"{r['step_s'] / base:.2f}x" if base else ""
            lines.append(f"| {i} | {r['setting']} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} "
                         f"| {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
