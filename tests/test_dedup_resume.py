"""Global dedup stages are deterministic and resumable: same bytes for 1 or 2 workers and after kill -9."""
from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import GARDEN, run_garden, write_jsonl, write_recipe
from test_minhash_dedup import neardup_records

PIPELINE = [{"minhash_dedup": {"threshold": 0.8}}, {"length_filter": {"min_chars": 1}}]


def tree_digest(out_dir) -> dict[str, str]:
    """sha256 of every file under data/, rejected/ and dedup/ (the run's outputs)."""
    out = {}
    for sub in ("data", "rejected", "dedup"):
        for path in sorted(glob.glob(os.path.join(out_dir, sub, "**", "*"), recursive=True)):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, out_dir)] = hashlib.sha256(fh.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    records = neardup_records(groups=40, distinct=80, seed=5)
    inp = write_jsonl(tmp / "in.jsonl", [{"id": r["id"], "text": r["text"]} for r in records])
    recipe = write_recipe(tmp, PIPELINE, [{"path": inp, "source": "nd"}], output="ref", workers=1, shard_size="16KB")
    run_garden("run", recipe)
    ref = tree_digest(tmp / "ref")
    assert any(k.startswith("rejected/") for k in ref) and any(k.startswith("data/") for k in ref)
    return tmp, inp, ref


def test_two_workers_byte_identical(corpus, tmp_path):
    _, inp, ref = corpus
    recipe = write_recipe(tmp_path, PIPELINE, [{"path": inp, "source": "nd"}], workers=2, shard_size="16KB")
    run_garden("run", recipe)
    assert tree_digest(tmp_path / "out") == ref


# (phase, the file whose appearance means the phase is under way)
PHASES = [
    ("scan", "_work/s01-minhash_dedup/done/scan-00000.json"),
    ("reduce", "_work/s01-minhash_dedup/done/reduce-0000.json"),
    ("finalize", "_work/s01-minhash_dedup/done/reduce-0063.json"),
    ("apply", "_work/s02-stream/done/shard-00000.json"),
]


@pytest.mark.parametrize("phase,marker", PHASES, ids=[p for p, _ in PHASES])
def test_kill_during_phase_then_resume(corpus, tmp_path, phase, marker):
    _, inp, ref = corpus
    recipe = write_recipe(tmp_path, PIPELINE, [{"path": inp, "source": "nd"}], workers=1, shard_size="16KB")
    out = tmp_path / "out"
    proc = subprocess.Popen(GARDEN + ["run", recipe], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while not os.path.exists(out / marker) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert running and not os.path.exists(out / "stats.json"), f"the run finished before its {phase} phase was killed"
    run_garden("run", recipe)
    assert tree_digest(out) == ref
