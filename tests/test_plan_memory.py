"""`garden plan` against a built megatron-core model (CPU, fp32, one gloo process): parameter
counts of presets and of a planned custom shape are exact, and the weights + gradients +
optimizer-state estimate matches the built tensors within 5 %."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("megatron.core")

from trainer_helpers import ROOT, make_blend  # noqa: E402

from trainer.plan import memory  # noqa: E402
from trainer.plan.shapes import custom_shape, param_counts  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan-built")
    blend = make_blend(tmp / "data", [{"name": "main", "tokens": 10**5,
                                       "weights": {"a": 0.5, "b": 0.5}}], docs=50, split="100,0,0")
    custom = custom_shape(3e6, 256).model_fields()  # what `garden plan` would pick
    models = [{"preset": "tiny"}, {"preset": "tiny-moe"}, {"preset": "125m"},
              {"preset": "tiny", **custom}]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, str(ROOT / "tests/plan_probe.py"), str(blend),
                        json.dumps(models)], capture_output=True, text=True, env=env, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 4
    return dict(zip(["tiny", "tiny-moe", "125m", "custom"], rows))


@pytest.mark.parametrize("name", ["tiny", "tiny-moe", "125m", "custom"])
def test_parameter_count_equals_the_built_model(built, name):
    row = built[name]
    assert param_counts(row["model"])["total"] == row["params"]


@pytest.mark.parametrize("name", ["tiny", "125m"])
def test_weights_grads_optimizer_estimate_within_5_percent(built, name):
    row = built[name]
    est = memory.estimate(row["model"], tp=1, pp=1, dp=1, micro_batch=1, seq_len=32,
                          precision="fp32")  # like for like: CPU builds fp32, no master copy
    assert est.params_per_gpu == row["params"]
    for part, measured in (("weights", row["weight_bytes"]), ("grads", row["grad_bytes"]),
                           ("optimizer", row["optimizer_bytes"])):
        assert getattr(est, part) == pytest.approx(measured, rel=0.05), part
    measured = row["weight_bytes"] + row["grad_bytes"] + row["optimizer_bytes"]
    assert est.static(zero1=False) == pytest.approx(measured, rel=0.05)
