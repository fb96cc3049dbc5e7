"""Shared helpers: write recipes and inputs into tmp dirs, run the real CLI."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_DATA = os.path.join(REPO, "recipes", "data", "demo")
GARDEN = [sys.executable, "-m", "garden"]


def write_jsonl(path, rows) -> str:
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return str(path)


def write_recipe(tmp_path, pipeline, inputs, output="out", **extra) -> str:
    recipe = {"name": "test", "inputs": inputs, "output": str(tmp_path / output), "pipeline": pipeline, **extra}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True))
    return str(path)


def run_garden(*args, check=True, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    proc = subprocess.run(GARDEN + [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"garden {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def kill_9_when(cmd, ready, env=None, timeout=120, poll=0.005) -> bool:
    """Start cmd, SIGKILL it as soon as ready() is true; False if it finished first.

    The pool's workers must notice that their driver is gone and exit by themselves."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            children = _children(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            deadline = time.time() + 15
            while any(os.path.exists(f"/proc/{c}") for c in children) and time.time() < deadline:
                time.sleep(0.2)
            assert not [c for c in children if os.path.exists(f"/proc/{c}")], "orphaned workers"
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    proc.kill()
    return False


def read_data(out_dir) -> list[dict]:
    rows = []
    from garden.run_folder import is_part_name

    for f in sorted(glob.glob(os.path.join(str(out_dir), "data", "part-*"))):
        if not is_part_name(os.path.basename(f)):
            continue  # not Garden's: a user's file or a temp file
        if f.endswith(".parquet"):
            rows.extend(pq.read_table(f).to_pylist())
        else:
            from garden.io.inputs import open_decompressed

            with open_decompressed(f) as fh:
                rows.extend(json.loads(line) for line in fh)
    return rows


def quarantine_entries(out) -> list[dict]:
    """Every entry of a run's quarantine/ files (what the reader set aside, with file, line and cause)."""
    rows = []
    qdir = os.path.join(str(out), "quarantine")
    for f in sorted(os.listdir(qdir)) if os.path.isdir(qdir) else []:
        with open(os.path.join(qdir, f), encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    return rows


def read_stats(out_dir) -> dict:
    with open(os.path.join(str(out_dir), "stats.json")) as fh:
        return json.load(fh)


def tree_bytes(directory) -> dict[str, bytes]:
    """Relative path → content of every file under directory (for byte-identity checks)."""
    out = {}
    for root, _, files in os.walk(directory):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, directory)] = fh.read()
    return out


@pytest.fixture(scope="session")
def model_runs(tmp_path_factory):
    """Short `garden train` runs of each layout (tests/model_helpers.py RUNS), trained once per
    session on first use and shared by every model test (eval, export, generate, perplexity):
    training dominates those tests' time. GARDEN_TEST_MODEL_RUNS=DIR keeps them between sessions."""
    from model_helpers import ModelRuns, runs_base

    return ModelRuns(runs_base(tmp_path_factory))


@pytest.fixture
def demo_inputs():
    return [
        {"path": os.path.join(DEMO_DATA, "fortunes_en.jsonl.gz"), "source": "fortunes_en"},
        {"path": os.path.join(DEMO_DATA, "fortunes_zh.jsonl.gz"), "source": "fortunes_zh"},
        {"path": os.path.join(DEMO_DATA, "handbook.jsonl.gz"), "source": "handbook"},
    ]
