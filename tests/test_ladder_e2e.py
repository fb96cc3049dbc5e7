"""`garden ladder` end to end on CPU: the default ladder is six rungs (3 sizes x 2 budgets);
a real ladder of very small models (a few steps each) trains through `garden train`, resumes a
killed rung from its checkpoint, fits the final validation losses and writes its outputs; a
second run trains nothing.  The fit itself is tested on synthetic losses (test_ladder_fit.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("megatron.core")

from trainer_helpers import ROOT, make_blend  # noqa: E402


pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(900)]
RECIPE = str(ROOT / "recipes/train-tiny.yaml")


def garden(*args: str, timeout: int = 800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "garden", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def blend(tmp_path_factory):
    # 10 % of each source's documents held out: the validation data the ladder's loss comes from
    return make_blend(tmp_path_factory.mktemp("ladder") / "data",
                      [{"name": "main", "tokens": 10**6, "weights": {"a": 0.5, "b": 0.5}}],
                      docs=300, split="90,10,0")


def test_default_ladder_is_three_sizes_at_two_budgets(blend, tmp_path):
    r = garden("ladder", RECIPE, f"data.blend={blend}", f"run_dir={tmp_path / 'run'}", "--dry-run")
    assert r.returncode == 0, r.stderr
    rungs = json.loads(r.stdout)
    assert len(rungs) == 6
    assert len({x["params"] for x in rungs}) == 3
    assert sorted({x["tokens_per_param"] for x in rungs}) == [2.0, 6.0]  # CPU defaults
    per_iter = 16 * 128  # train-tiny.yaml: global_batch 16 x seq_len 128
    for x in rungs:
        assert x["tokens"] == x["train_iters"] * per_iter >= x["tokens_per_param"] * x["params"]
        assert Path(x["run_dir"]).parent == tmp_path / "run-ladder" / "rungs"
    assert [x["flops"] for x in rungs] == sorted(x["flops"] for x in rungs)
    one = garden("ladder", RECIPE, f"data.blend={blend}", "--sizes", "100k,200k,400k",
                 "--tokens-per-param", "20", "--dry-run")
    assert one.returncode == 0 and "so fewer are fitted" in one.stderr


def test_bad_ladder_input_is_one_line(blend):
    r = garden("ladder", RECIPE, f"data.blend={blend}", "--sizes", "100k,-2", "--dry-run")
    assert r.returncode != 0 and "'-2' is not a positive count" in r.stderr
    assert "Traceback" not in r.stderr


def _last_valid(run_dir: Path) -> dict:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [x for x in rows if "valid_loss" in x][-1]


def test_ladder_trains_resumes_and_fits(blend, tmp_path):
    base = [RECIPE, f"data.blend={blend}", f"run_dir={tmp_path / 'run'}", "training.seq_len=32",
            "training.global_batch=16", "training.micro_batch=4"]
    opts = ["--sizes", "90k,200k", "--tokens-per-param", "0.1,0.2", "--bootstrap", "5"]
    rungs = json.loads(garden("ladder", *base, *opts, "--dry-run").stdout)
    assert len(rungs) == 4
    # a rung killed half way: its own garden train run stopped with a checkpoint at iteration k
    killed = rungs[-1]
    k = killed["train_iters"] // 2
    part = garden("train", *base, *killed["overrides"], f"training.train_iters={k}")
    assert part.returncode == 0, part.stdout[-2000:] + part.stderr[-2000:]

    r = garden("ladder", *base, *opts)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "run-ladder"
    log = (Path(killed["run_dir"]) / "ladder.log").read_text()
    assert "resumed from" in log and f"iteration {k}" in log
    data = json.loads((out / "ladder.json").read_text())
    assert [x["status"] for x in data["rungs"]] == ["done"] * 4
    for x in data["rungs"]:
        row = _last_valid(Path(x["run_dir"]))
        assert x["valid_loss"] == row["valid_loss"]["overall"]
        assert x["valid_iteration"] == row["iteration"] == x["train_iters"]
    assert data["fit"]["free"] == ["E", "A", "B"]  # 4 runs: exponents fixed, and it says so
    assert "alpha and beta fixed" in data["fit_note"] and "alpha and beta fixed" in r.stdout
    assert data["prediction"] is not None and data["prediction_ci"][0] <= data["prediction_ci"][1]
    assert (out / "ladder.png").stat().st_size > 10_000
    assert "Scaling law fitted on your data" in (out / "ladder.html").read_text()

    again = garden("ladder", *base, *opts)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already trained, not run again") == 4
    data2 = json.loads((out / "ladder.json").read_text())
    assert [x["valid_loss"] for x in data2["rungs"]] == [x["valid_loss"] for x in data["rungs"]]
