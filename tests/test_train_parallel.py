"""TP / PP / DP layouts give the TP1 PP1 loss, and resume reproduces an uninterrupted run.

Every case is a real `python -m trainer` (= `garden train`) launch through torchrun on CPU/gloo.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("megatron.core")

from trainer_helpers import losses, make_blend, run_train, tiny_config  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(300)]
TOL = 1e-5


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """Reference TP1 PP1 run: 6 iterations, checkpoints at 3 and 6."""
    tmp = tmp_path_factory.mktemp("parallel")
    blend = make_blend(tmp / "data", [{"name": "main", "tokens": 10**6,
                                       "weights": {"a": 0.5, "b": 0.5}}])
    cfg = tiny_config(tmp, blend, checkpoint={"interval": 3})
    r = run_train(cfg, "run_dir=" + str(tmp / "ref"))
    assert r.returncode == 0, r.stdout + r.stderr
    ref_losses = losses(tmp / "ref")
    assert len(ref_losses) == 6
    return {"tmp": tmp, "cfg": cfg, "losses": ref_losses, "ckpt3": tmp / "ref/checkpoints/iter_0000003"}


@pytest.mark.parametrize("layout,nproc", [
    (["parallel.tp=2"], 2),
    (["parallel.pp=2"], 2),
    (["parallel.tp=2", "parallel.pp=2"], 4),
    ([], 2),  # DP=2
    (["parallel.pp=2", "parallel.vpp=2"], 2),  # interleaved (virtual) pipeline
], ids=["tp2", "pp2", "tp2pp2", "dp2", "pp2vpp2"])
def test_layout_matches_tp1pp1(ref, layout, nproc):
    name = "-".join(layout).replace("parallel.", "").replace("=", "") or "dp2"
    run_dir = ref["tmp"] / f"run-{name}"
    r = run_train(ref["cfg"], f"run_dir={run_dir}", "training.train_iters=6", *layout,
                  nproc=nproc)
    assert r.returncode == 0, r.stdout + r.stderr
    got = losses(run_dir)
    # Same schedule length as the reference so the LR at each step is identical.
    assert len(got) == 6
    for step, (a, b) in enumerate(zip(got[:3], ref["losses"][:3]), 1):
        assert abs(a - b) < TOL, f"{name} step {step}: {a} vs TP1PP1 {b}"
    # and the loss actually moves, so equality is not trivial
    assert got[2] < got[0] - 1e-3


@pytest.mark.parametrize("layout,nproc", [([], 1), (["parallel.tp=2", "parallel.pp=2"], 4)],
                         ids=["same-layout", "into-tp2pp2"])
def test_resume_matches_uninterrupted(ref, layout, nproc):
    name = "resume-" + ("-".join(layout).replace("parallel.", "").replace("=", "") or "tp1")
    run_dir = ref["tmp"] / name
    shutil.rmtree(run_dir, ignore_errors=True)
    r = run_train(ref["cfg"], f"run_dir={run_dir}", f"checkpoint.load={ref['ckpt3']}", *layout,
                  nproc=nproc)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout and "iteration 3" in r.stdout
    rows = losses(run_dir)
    assert len(rows) == 3, rows  # iterations 4..6 only
    for step, (a, b) in enumerate(zip(rows, ref["losses"][3:]), 4):
        assert abs(a - b) < TOL, f"{name} step {step}: resumed {a} vs uninterrupted {b}"


def test_automatic_resume_from_latest(ref):
    """A second launch of a finished-at-3 run continues from its own latest checkpoint."""
    run_dir = ref["tmp"] / "auto"
    r = run_train(ref["cfg"], f"run_dir={run_dir}", "training.train_iters=6",
                  "checkpoint.interval=3", env={"GARDEN_FAULT_NAN_AT": "4"})
    # the injected NaN at iteration 5 stops the run; iter 3 checkpoint must be intact
    assert r.returncode != 0
    assert "loss is nan" in r.stdout
    assert (run_dir / "checkpoints/latest").read_text().strip() == "3"
    r = run_train(ref["cfg"], f"run_dir={run_dir}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resumed from" in r.stdout
    got = losses(run_dir)
    assert len(got) == 6
    for a, b in zip(got, ref["losses"]):
        assert abs(a - b) < TOL
