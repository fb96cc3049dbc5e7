"""Global dedup stages are deterministic and resumable: same bytes for 1 or 2 workers and after kill -9."""
from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import GARDEN, run_garden, write_jsonl, write_recipe
from dedup_helpers import neardup_records

pytestmark = pytest.mark.slow

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


# (phase, the file whose appearance means the phase is under way)
PHASES = [
    ("scan", "_work/s01-minhash_dedup/done/scan-00000.json"),
    ("reduce", "_work/s01-minhash_dedup/done/reduce-0000.json"),
    ("finalize", "_work/s01-minhash_dedup/done/reduce-0063.json"),
    ("apply", "_work/s02-stream/done/shard-00000.json"),
]


def kill_when(recipe: str, marker) -> bool:
    """Start `garden run`, SIGKILL its process group once `marker` exists; True if it was still running."""
    proc = subprocess.Popen(GARDEN + ["run", recipe], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


def test_one_or_two_workers_and_kill_9_in_every_phase_give_the_same_bytes(tmp_path):
    records = neardup_records(groups=40, distinct=80, seed=5)
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": r["id"], "text": r["text"]} for r in records])
    ref_recipe = write_recipe(tmp_path, PIPELINE, [{"path": inp, "source": "nd"}], output="ref", workers=2,
                              shard_size="16KB")
    run_garden("run", ref_recipe)
    ref = tree_digest(tmp_path / "ref")
    assert any(k.startswith("rejected/") for k in ref) and any(k.startswith("data/") for k in ref)

    # one worker, killed once in each phase, each run resuming the previous one
    (tmp_path / "one").mkdir()
    recipe = write_recipe(tmp_path / "one", PIPELINE, [{"path": inp, "source": "nd"}], workers=1, shard_size="16KB")
    out = tmp_path / "one" / "out"
    for phase, marker in PHASES:
        assert kill_when(recipe, out / marker), f"the run finished before its {phase} phase was killed"
        assert not os.path.exists(out / "stats.json")
    run_garden("run", recipe)
    assert tree_digest(out) == ref
