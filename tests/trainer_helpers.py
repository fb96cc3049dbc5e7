"""Test fixtures for the trainer: Megatron shards + blend.json written without the data side.

Each source draws tokens from its own id range, so a sample's tokens tell which source it came
from; documents are modular arithmetic progressions, which a tiny model learns quickly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 256
EOD = 0
RANGES = {"a": (10, 74), "b": (100, 164), "c": (180, 244)}


def write_source(prefix: Path, lo: int, hi: int, docs: int, seed: int) -> int:
    """Write prefix.bin/.idx with megatron's IndexedDatasetBuilder; return the token count."""
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(seed)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    builder = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.uint16)
    total = 0
    span = hi - lo
    for _ in range(docs):
        n = int(rng.integers(40, 120))
        start, step = int(rng.integers(0, span)), int(rng.integers(1, 4))
        doc = np.array([(start + i * step) % span + lo for i in range(n)] + [EOD], dtype=np.uint16)
        builder.add_document(doc, [len(doc)])
        total += len(doc)
    builder.finalize(str(prefix) + ".idx")
    return total


def make_blend(root: Path, phases: list[dict], sources: tuple[str, ...] = ("a", "b"),
               docs: int = 300, split: str = "98,1,1") -> Path:
    """Write tokens/<src>.bin/.idx and blend.json (docs/blend-format.md) under root."""
    root.mkdir(parents=True, exist_ok=True)
    srcs = {}
    for i, s in enumerate(sources):
        lo, hi = RANGES[s]
        n = write_source(root / "tokens" / s, lo, hi, docs, seed=i)
        srcs[s] = {"prefix": f"tokens/{s}", "documents": docs, "tokens": n}
    blend = {"version": 1, "tokenizer": {"path": "tokenizer/tokenizer.json", "vocab_size": VOCAB,
                                         "eod_id": EOD},
             "dtype": "uint16", "sources": srcs, "split": split, "phases": phases}
    path = root / "blend.json"
    path.write_text(json.dumps(blend, indent=1))
    return path


def source_of(token: int) -> str | None:
    for s, (lo, hi) in RANGES.items():
        if lo <= token < hi:
            return s
    return None


def tiny_config(tmp: Path, blend: Path, **sections) -> Path:
    """A tiny-model config YAML under tmp; keyword args update whole sections."""
    import yaml

    cfg = {
        "name": "t", "run_dir": str(tmp / "run"),
        "model": {"preset": "tiny"},
        "training": {"seq_len": 32, "micro_batch": 2, "global_batch": 8, "train_iters": 6,
                     "lr": 3e-3, "warmup_iters": 2, "seed": 7},
        "data": {"blend": str(blend)},
        "logging": {"interval": 1},
    }
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_train(config: Path, *args: str, nproc: int = 1, timeout: int = 240,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m trainer CONFIG --nproc N args...` as a user would run `garden train`."""
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("PYTHONWARNINGS", "ignore")
    # One intra-op thread per process (what torchrun sets for N > 1): with 2 threads a single
    # process slows down ~20x as soon as other work shares the CPU (measured: 8.5k vs 0.4k tok/s).
    e.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "trainer", str(config), "--nproc", str(nproc), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)


def metric_rows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def train_rows(run_dir: Path) -> list[dict]:
    """metrics.jsonl rows of training (validation rows carry `valid_loss` instead)."""
    return [r for r in metric_rows(run_dir) if "valid_loss" not in r]


def valid_rows(run_dir: Path) -> list[dict]:
    return [r for r in metric_rows(run_dir) if "valid_loss" in r]


def losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in train_rows(run_dir) if "error" not in r]
