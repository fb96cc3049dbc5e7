"""End to end on CPU: shards -> `garden train` (shipped tiny recipe) learns; a two-phase
curriculum switches blend at the planned step (checked through the samples actually drawn);
loss spikes are skipped; MoE trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("megatron.core")

from trainer_helpers import (ROOT, losses, make_blend, run_train, source_of, tiny_config,  # noqa: E402
                             train_rows)

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(300)]


def test_tiny_recipe_learns(tmp_path):
    blend = make_blend(tmp_path / "data", [{"name": "main", "tokens": 10**6,
                                            "weights": {"a": 0.6, "b": 0.4}}])
    run_dir = tmp_path / "tiny"
    r = run_train(ROOT / "recipes/train-tiny.yaml", f"data.blend={blend}", f"run_dir={run_dir}",
                  "training.train_iters=40", "training.seq_len=64", "training.global_batch=8",
                  "training.warmup_iters=4", "logging.interval=4", "checkpoint.interval=0",
                  nproc=1)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = train_rows(run_dir)
    assert [row["iteration"] for row in rows] == list(range(4, 41, 4))
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert last < first - 2.0, f"loss did not go down clearly: {first} -> {last}"
    for row in rows:
        assert row["tokens_per_s"] > 0 and row["lr"] > 0 and row["grad_norm"] > 0
        assert row["consumed_tokens"] == row["iteration"] * 8 * 64
        assert row["phase"] == "main"
    assert (run_dir / "loss.png").stat().st_size > 1000
    assert (run_dir / "checkpoints/latest").read_text().strip() == "40"
    assert "iter     40" in r.stdout and "tok/s" in r.stdout


@pytest.fixture(scope="module")
def curriculum(tmp_path_factory):
    """Two phases on DP=2: 'general' (only source a) for 6 iterations (6*8*32 = 1536 tokens),
    then 'anneal' (only source b).  A loss spike is injected at iteration 10."""
    tmp = tmp_path_factory.mktemp("curriculum")
    blend = make_blend(tmp / "data", [
        {"name": "general", "tokens": 1536, "weights": {"a": 1.0}},
        {"name": "anneal", "tokens": 1536, "weights": {"b": 0.9, "c": 0.1}},
    ], sources=("a", "b", "c"))
    cfg = tiny_config(tmp, blend, training={"train_iters": None, "skip_on_spike": 3.0,
                                            "warmup_iters": 1},
                      data={"blend": str(blend), "trace_samples": True},
                      checkpoint={"interval": 4})
    r = run_train(cfg, nproc=2, env={"GARDEN_FAULT_SPIKE_AT": "9"})
    assert r.returncode == 0, r.stdout + r.stderr
    return {"run": tmp / "run", "out": r.stdout, "cfg": cfg, "tmp": tmp}


def _samples(run: Path, dps=(0, 1)) -> list[dict]:
    out = []
    for dp in dps:
        out += [json.loads(x) for x in (run / f"samples.dp{dp}.jsonl").read_text().splitlines()]
    return out


def test_curriculum_switches_blend_at_token_boundary(curriculum):
    run = curriculum["run"]
    samples = _samples(run)
    assert len(samples) == 12 * 8  # 12 iterations x global batch 8, each drawn exactly once
    by_iter: dict[int, set] = {}
    for s in samples:
        # the source recorded by the blend and the tokens actually fed agree
        assert source_of(s["first_token"]) in (s["source"], None) or s["first_token"] == 0
        by_iter.setdefault(s["iteration"], set()).add(s["source"])
    assert all(by_iter[i] == {"a"} for i in range(6)), by_iter
    assert all(by_iter[i] <= {"b", "c"} and "b" in by_iter[i] for i in range(6, 12)), by_iter
    rows = train_rows(run)
    assert [r["phase"] for r in rows] == ["general"] * 6 + ["anneal"] * 6
    assert "curriculum: phase 'general' -> 'anneal' at iteration 7 (1,536 tokens)" \
        in curriculum["out"]
    state = json.loads((run / "checkpoints/iter_0000012/trainer_state.json").read_text())
    assert state["phase"] == "anneal" and state["consumed_tokens"] == 12 * 256


def test_curriculum_resume_mid_phase_draws_the_same_samples(curriculum):
    """Resume from iteration 8 (2 batches into 'anneal') on one process (DP=1): the samples,
    their sources and the losses of iterations 9-12 are those of the uninterrupted DP=2 run."""
    ck8 = curriculum["run"] / "checkpoints/iter_0000008"
    state = json.loads((ck8 / "trainer_state.json").read_text())
    assert (state["phase"], state["phase_position_samples"]) == ("anneal", 16)
    run = curriculum["tmp"] / "resumed"
    r = run_train(curriculum["cfg"], f"run_dir={run}", f"checkpoint.load={ck8}", nproc=1,
                  env={"GARDEN_FAULT_SPIKE_AT": "9"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "phase 'anneal' at sample 16 of the phase" in r.stdout
    key = lambda s: (s["iteration"], s["sample"])  # noqa: E731
    want = sorted((s for s in _samples(curriculum["run"]) if s["iteration"] >= 8), key=key)
    got = sorted(_samples(run, dps=(0,)), key=key)
    assert got == want
    ref = train_rows(curriculum["run"])
    new = train_rows(run)
    assert [r["iteration"] for r in new] == [9, 10, 11, 12]
    for a, b in zip(new, ref[8:]):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and a["skipped"] == b["skipped"]


def test_spike_is_skipped_with_a_log_line(curriculum):
    rows = train_rows(curriculum["run"])
    skipped = [r["iteration"] for r in rows if r["skipped"]]
    assert skipped == [10]
    assert "SPIKE iteration 10" in curriculum["out"] and "skipping this update" in curriculum["out"]
    assert rows[9]["grad_norm"] is None and all(r["grad_norm"] for r in rows if not r["skipped"])


def test_moe_tiny_trains_on_cpu(tmp_path):
    blend = make_blend(tmp_path / "data", [{"name": "main", "tokens": 10**6,
                                            "weights": {"a": 0.5, "b": 0.5}}])
    cfg = tiny_config(tmp_path, blend, model={"preset": "tiny-moe"})
    r = run_train(cfg, "training.train_iters=8", nproc=2)  # DP=2: experts' grads all-reduced
    assert r.returncode == 0, r.stdout + r.stderr
    got = losses(tmp_path / "run")
    assert len(got) == 8 and got[-1] < got[0] - 0.2
