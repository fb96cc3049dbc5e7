"""The ladder's fitter recovers known constants from synthetic losses, uses fewer free
constants with fewer runs, reads validation rows by the trainer's contract, and writes
ladder.json / PNG / HTML.  No training here (see test_ladder_e2e.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.plan import ladder as lad
from trainer.plan import ladder_report as rep
from trainer.plan.fit import FitError, choose_free, fit, predict
from trainer.plan.scaling_laws import EPOCH, ScalingLaw
from trainer.plan.shapes import custom_shape

TRUE = ScalingLaw("true", E=1.9, A=520.0, B=1800.0, alpha=0.33, beta=0.38)


def synthetic(noise: float, seed: int = 3):
    n = np.repeat([2e7, 6e7, 2e8, 6e8, 2e9], 3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = np.array([TRUE.loss(a, b) for a, b in zip(n, d)])
    return n, d, loss * np.exp(np.random.default_rng(seed).normal(0, noise, len(loss)))


@pytest.mark.slow
def test_recovers_constants_without_noise():
    n, d, loss = synthetic(0.0)
    r = fit(n, d, loss, bootstrap=0)
    assert r.free == ["E", "A", "B", "alpha", "beta"]
    for k in ("E", "A", "B", "alpha", "beta"):
        assert getattr(r, k) == pytest.approx(getattr(TRUE, k), rel=1e-4), k


@pytest.mark.slow
def test_recovers_constants_and_predicts_with_noise():
    n, d, loss = synthetic(0.003)  # 0.3 % multiplicative noise on every loss
    r = fit(n, d, loss, bootstrap=10, seed=1)
    assert r.E == pytest.approx(TRUE.E, rel=0.05)
    assert r.alpha == pytest.approx(TRUE.alpha, abs=0.05)
    assert r.beta == pytest.approx(TRUE.beta, abs=0.05)
    # a 10x larger model on 10x more data than the largest rung: within 2 %
    point, (lo, hi) = predict(r, 2e10, 4e11)
    truth = TRUE.loss(2e10, 4e11)
    assert point == pytest.approx(truth, rel=0.02)
    assert lo <= point <= hi and hi - lo < 0.2
    assert r.ci["E"][0] <= r.E <= r.ci["E"][1]


def test_fewer_runs_fix_the_exponents():
    n, d, loss = synthetic(0.0)
    free, why = choose_free(4, 2)
    assert free == ["E", "A", "B"] and "alpha and beta fixed" in why
    assert choose_free(8, 1)[0] == ["E", "A", "B"]  # one ratio: N and D collinear
    with pytest.raises(FitError, match="at least 4"):
        choose_free(3, 2)
    exact = ScalingLaw("x", TRUE.E, TRUE.A, TRUE.B, EPOCH.alpha, EPOCH.beta)
    loss4 = np.array([exact.loss(a, b) for a, b in zip(n[:5], d[:5])])
    r = fit(n[:5], d[:5], loss4, fixed_law=EPOCH, bootstrap=0)
    assert r.free == ["E", "A", "B"] and r.fixed_from == "epoch"
    assert (r.alpha, r.beta) == (EPOCH.alpha, EPOCH.beta)
    assert (r.E, r.A, r.B) == pytest.approx((TRUE.E, TRUE.A, TRUE.B), rel=1e-3)


def test_final_validation_follows_the_metrics_contract(tmp_path):
    rows = [{"iteration": 5, "loss": 3.0},
            {"iteration": 5, "valid_loss": {"a": 2.9, "b": 3.1, "overall": 3.0},
             "valid_ppl": {}, "valid_tokens": {}},
            {"iteration": 10, "loss": 2.5},
            {"iteration": 10, "valid_loss": {"a": 2.4, "b": 2.6, "overall": 2.52},
             "valid_ppl": {}, "valid_tokens": {}},
            {"iteration": 11, "loss": 2.4}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{torn")
    assert lad.final_validation(tmp_path) == (10, 2.52, {"a": 2.4, "b": 2.6})
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"iteration": 1, "loss": 2.0}) + "\n")
    assert lad.final_validation(tmp_path) is None


@pytest.mark.parametrize("text,value", [("200k", 2e5), ("1.5M", 1.5e6), ("3e6", 3e6), ("2B", 2e9)])
def test_parse_count(text, value):
    assert lad.parse_count(text) == value


@pytest.mark.parametrize("text", ["0", "-5k", "abc", "1x"])
def test_parse_count_refuses_bad_counts(text):
    with pytest.raises(lad.LadderError, match="not a positive count"):
        lad.parse_count(text)


@pytest.mark.slow
def test_outputs_from_synthetic_rungs(tmp_path):
    rungs = []
    for size in (2e5, 5e5, 1.2e6):
        shape = custom_shape(size, 256)
        for ratio in (10.0, 40.0):
            tokens = int(ratio * shape.total_params)
            r = lad.Rung(f"n{size:g}-r{ratio:g}", shape, ratio, 10, tokens, str(tmp_path), [])
            r.status, r.valid_loss = "done", TRUE.loss(shape.total_params, tokens)
            rungs.append(r)
    ladder = lad.Ladder(config="c.yaml", out_dir=str(tmp_path), rungs=rungs, target_params=5e6,
                        target_tokens=2e8, law="epoch")
    lad.fit_ladder(ladder, bootstrap=3)
    assert ladder.fit.free == ["E", "A", "B", "alpha", "beta"]
    assert ladder.prediction == pytest.approx(TRUE.loss(5e6, 2e8), rel=0.01)
    data = json.loads(rep.write_json(ladder, tmp_path / "ladder.json").read_text())
    assert data["fit"]["E"] == pytest.approx(TRUE.E, rel=0.01)
    assert [r["valid_loss"] for r in data["rungs"]] == [r.valid_loss for r in rungs]
    assert data["rungs"][0]["flops"] == pytest.approx(6 * rungs[0].shape.total_params * rungs[0].tokens)
    assert any("arXiv:2203.15556" in c for c in data["citations"])
    png = rep.plot(ladder, tmp_path / "ladder.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    page = rep.write_html(ladder, png, tmp_path / "ladder.html").read_text()
    assert "data:image/png;base64," in page and "Scaling law fitted on your data" in page
    assert f"{ladder.prediction:.4f}" in page
    text = rep.render_text(ladder)
    assert "predicted loss for 5M params on 200M tokens" in text
