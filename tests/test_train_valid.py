"""Validation while training: held-out windows per source (never training data), metrics rows
of the documented shape, the same values in another TP/PP/DP layout and after kill -9 + resume."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("megatron.core")

from trainer_helpers import (losses, make_blend, metric_rows, run_train, tiny_config,  # noqa: E402
                             valid_rows, write_source)

pytestmark = [pytest.mark.train, pytest.mark.timeout(400)]
TOL = 1e-5
VALID_RANGE = (75, 99)  # held-out documents of `a` use ids no training document has


def _blend_with_valid_shards(root):
    """Sources a, b (each with <source>_valid shards) and c (nothing held out), split 100,0,0."""
    path = make_blend(root, [{"name": "first", "tokens": 1024, "weights": {"a": 0.75, "c": 0.25}},
                             {"name": "second", "tokens": 10**5, "weights": {"a": 0.25, "b": 0.75}}],
                      sources=("a", "b", "c"), docs=120, split="100,0,0")
    raw = json.loads(path.read_text())
    for name, rng, seed in (("a", VALID_RANGE, 11), ("b", (100, 164), 12)):
        n = write_source(root / "tokens" / f"{name}_valid", *rng, docs=12, seed=seed)
        raw["sources"][name]["valid"] = {"prefix": f"tokens/{name}_valid", "documents": 12,
                                         "tokens": n}
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """TP1 PP1 reference: 6 iterations (phase switch at 4), evaluation every 2, checkpoints at 2
    and 4."""
    tmp = tmp_path_factory.mktemp("valid")
    blend = _blend_with_valid_shards(tmp / "data")
    cfg = tiny_config(tmp, blend, eval={"interval": 2, "tokens": 300},
                      checkpoint={"interval": 2})
    r = run_train(cfg, f"run_dir={tmp / 'ref'}")
    assert r.returncode == 0, r.stdout + r.stderr
    return {"tmp": tmp, "cfg": cfg, "blend": blend, "run": tmp / "ref", "out": r.stdout}


@pytest.mark.slow
def test_metrics_rows_per_source_and_overall(ref):
    rows = valid_rows(ref["run"])
    assert [r["iteration"] for r in rows] == [2, 4, 6]
    for r in rows:
        assert set(r) == {"iteration", "valid_loss", "valid_ppl", "valid_tokens"}
        assert set(r["valid_loss"]) == set(r["valid_ppl"]) == set(r["valid_tokens"]) == \
            {"a", "b", "overall"}
        assert r["valid_tokens"] == {"a": 300, "b": 300, "overall": 600}
        for k, v in r["valid_loss"].items():
            assert r["valid_ppl"][k] == pytest.approx(math.exp(v))
        lo, hi = sorted((r["valid_loss"]["a"], r["valid_loss"]["b"]))
        assert lo <= r["valid_loss"]["overall"] <= hi
    # phase 'second' (iterations 5-6) trains on b: b's held-out loss drops
    assert rows[-1]["valid_loss"]["b"] < rows[1]["valid_loss"]["b"] - 0.05
    assert "validation: source 'c' skipped" in ref["out"]
    assert "valid       6 | overall" in ref["out"]
    assert "validation at iteration 6 (held-out tokens):" in ref["out"]
    # training rows are unchanged in shape, one per iteration
    assert len(losses(ref["run"])) == 6
    assert (ref["run"] / "loss.png").stat().st_size > 1000


@pytest.mark.slow
def test_windows_are_held_out_and_fixed(ref):
    """a's windows come only from a_valid (ids 75..98, absent from training), b's from b_valid;
    the same seed gives the same windows, another seed other ones."""
    from trainer.blend import held_out, load_blend
    from trainer.validation import build_windows

    found, missing = held_out(load_blend(ref["blend"]), ["a", "b", "c"])
    assert set(found) == {"a", "b"} and "c" in missing
    assert found["a"].origin == "valid shards" and found["a"].prefix.endswith("a_valid")
    w = build_windows(found["a"].to_dict(), 300, 32, seed=0)
    scored = w.tokens[w.loss_mask > 0]
    assert w.scored == 300 and len(scored) == 300
    assert all(VALID_RANGE[0] <= t < VALID_RANGE[1] or t == 0 for t in scored.tolist())
    assert np.array_equal(w.labels[:, :-1][w.loss_mask[:, 1:] > 0],
                          w.tokens[:, 1:][w.loss_mask[:, 1:] > 0])  # labels = next token
    again = build_windows(found["a"].to_dict(), 300, 32, seed=0)
    assert np.array_equal(w.tokens, again.tokens)
    assert not np.array_equal(w.tokens, build_windows(found["a"].to_dict(), 300, 32, 1).tokens)


def test_blend_split_gives_held_out_documents(tmp_path):
    """Without <source>_valid shards the valid part of blend.json's split is used: the
    documents megatron leaves out of training (98,1,1 of 300 -> documents 294..296)."""
    from garden.megatron_format import IndexedDatasetReader
    from trainer.blend import held_out, load_blend
    from trainer.validation import build_windows

    blend = load_blend(make_blend(tmp_path, [{"name": "m", "tokens": 1000, "weights": {"a": 1.0}}],
                                  sources=("a",), docs=300, split="98,1,1"))
    found, _ = held_out(blend, ["a"])
    h = found["a"]
    assert (h.begin, h.end, h.origin) == (294, 297, "blend split")
    ds = IndexedDatasetReader(h.prefix)
    held = np.concatenate([ds[i] for i in range(294, 297)])
    w = build_windows(h.to_dict(), 10**6, 32, seed=0)  # more than there is: all of it, once
    assert w.scored == len(held) - 1
    scored = w.tokens[w.loss_mask > 0].tolist()
    last_label = int(w.labels[w.loss_mask > 0][-1])
    assert sorted(scored + [last_label]) == sorted(held.tolist())  # each held-out token once


@pytest.mark.slow
def test_other_layout_gives_the_same_validation_loss(ref):
    """PP=2 x DP=2: windows spread over DP ranks, forward-only pipeline schedule."""
    run = ref["tmp"] / "pp2dp2"
    r = run_train(ref["cfg"], f"run_dir={run}", "parallel.pp=2", "checkpoint.interval=0",
                  nproc=4)
    assert r.returncode == 0, r.stdout + r.stderr
    for a, b in zip(valid_rows(run), valid_rows(ref["run"]), strict=True):
        assert a["iteration"] == b["iteration"] and a["valid_tokens"] == b["valid_tokens"]
        for k in b["valid_loss"]:
            assert abs(a["valid_loss"][k] - b["valid_loss"][k]) < TOL, (k, a, b)


@pytest.mark.slow
def test_kill_minus_9_and_resume_keep_validation_rows(ref):
    """Killed (SIGKILL) after iteration 5's rows, resumed from the iteration-4 checkpoint: the
    rows equal the uninterrupted run's (rows before the checkpoint byte for byte)."""
    run = ref["tmp"] / "killed"
    r = run_train(ref["cfg"], f"run_dir={run}", "eval.interval=1", env={"GARDEN_FAULT_KILL_AT": "5"})
    assert r.returncode != 0
    assert [row["iteration"] for row in valid_rows(run)] == [1, 2, 3, 4, 5]
    before = [row for row in metric_rows(run) if row["iteration"] <= 4]
    r = run_train(ref["cfg"], f"run_dir={run}", "eval.interval=1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout and "iteration 4" in r.stdout
    rows = metric_rows(run)
    assert [row for row in rows if row["iteration"] <= 4] == before
    got = valid_rows(run)
    assert [row["iteration"] for row in got] == [1, 2, 3, 4, 5, 6]
    want = {row["iteration"]: row for row in valid_rows(ref["run"])}
    for row in got:
        if row["iteration"] in want:
            for k, v in want[row["iteration"]]["valid_loss"].items():
                assert abs(row["valid_loss"][k] - v) < TOL


def test_rising_validation_loss_is_detected():
    from trainer.validation import rising

    assert rising([3.0, 2.0, 2.1, 2.2, 2.3], 3)
    assert not rising([3.0, 2.0, 2.1, 2.0, 2.3], 3)
    assert not rising([2.1, 2.2, 2.3], 3)  # only two rises so far
