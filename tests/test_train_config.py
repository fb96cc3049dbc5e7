"""`garden train` validates before launch: clear errors, presets, overrides, phase plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from trainer import cli
from trainer.blend import load_blend
from trainer.config import PRESETS, ConfigError, apply_overrides, plan_phases, resolve
from trainer_helpers import ROOT, make_blend, tiny_config

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def blend(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cfg")
    return make_blend(tmp / "data", [
        {"name": "general", "tokens": 2560, "weights": {"a": 0.8, "b": 0.2}},
        {"name": "anneal", "tokens": 1000, "weights": {"a": 0.5, "b": 0.5}}], docs=200)


def dry(config, *args, nproc=1):
    r = CliRunner().invoke(cli.train_command, [str(config), "--nproc", str(nproc), "--dry-run",
                                               *args])
    return r


@pytest.mark.slow
def test_cli_module_imports_no_torch():
    code = ("import sys, trainer.cli; bad=[m for m in ('torch','megatron','numpy') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_missing_deps_say_what_to_install(tmp_path, blend, monkeypatch):
    monkeypatch.setattr(cli, "_missing_deps", lambda: ["megatron-core"])
    r = dry(tiny_config(tmp_path, blend))
    assert r.exit_code != 0
    assert "pip install 'garden[train]'" in r.output and "megatron-core" in r.output


@pytest.mark.parametrize("args,nproc,message", [
    (["parallel.tp=2", "parallel.pp=2"], 2, "world size 2 is not divisible by tp*pp"),
    (["parallel.tp=8"], 8, "num_attention_heads 4 is not divisible by parallel.tp 8"),
    (["parallel.pp=3"], 3, "num_layers 4 is not divisible by pp"),
    (["training.global_batch=6"], 4, "global_batch 6 is not divisible by micro_batch*dp"),
    (["model.vocab_size=128"], 1, "tokenizer vocab 256 is larger than model.vocab_size 128"),
    (["data.blend=/nonexistent/blend.json"], 1, "does not exist"),
    (["precision=bf16"], 1, "needs a GPU"),
    (["parallel.sequence_parallel=true", "parallel.tp=2"], 2, "sequence_parallel needs a GPU"),
    (["model.preset=13b"], 1, "unknown model preset"),
    (["model.preset=tiny-moe", "parallel.tp=2"], 2, "MoE with parallel.tp > 1 needs"),
    (["training.lrr=1"], 1, "unknown key(s) in training: lrr"),
])
def test_errors_before_launch(tmp_path, blend, args, nproc, message):
    r = dry(tiny_config(tmp_path, blend), *args, nproc=nproc)
    assert r.exit_code != 0
    assert message in r.output, r.output


def test_missing_shard_is_reported(tmp_path, blend):
    data = tmp_path / "copy"
    data.mkdir()
    raw = json.loads(blend.read_text())
    raw["sources"]["a"]["prefix"] = str(blend.parent / "tokens" / "a")
    raw["sources"]["b"]["prefix"] = str(tmp_path / "gone" / "b")
    (data / "blend.json").write_text(json.dumps(raw))
    r = dry(tiny_config(tmp_path, data / "blend.json"))
    assert r.exit_code != 0 and "missing data file" in r.output and "gone/b.bin" in r.output


def test_dry_run_resolves_layout_and_phases(tmp_path, blend):
    r = dry(tiny_config(tmp_path, blend), "parallel.tp=2", "training.train_iters=null",
            nproc=4)
    assert r.exit_code == 0, r.output
    cfg = json.loads(r.output)
    assert cfg["parallel"]["dp"] == 2 and cfg["precision"] == "fp32"
    assert cfg["training"]["num_microbatches"] == 2  # 8 / (2 * dp 2)
    # 3560 tokens / 256 per iteration -> 14 iterations; general ends at 2560/256 = 10
    assert cfg["training"]["train_iters"] == 14
    assert [(p["name"], p["start_iter"], p["end_iter"]) for p in cfg["data"]["phases"]] == \
        [("general", 0, 10), ("anneal", 10, 14)]
    assert cfg["model"]["vocab_size"] == 256 and cfg["training"]["min_lr"] == pytest.approx(3e-4)


def test_presets_follow_llama():
    seven = PRESETS["7b"]
    assert (seven["num_layers"], seven["hidden_size"], seven["num_attention_heads"],
            seven["ffn_hidden_size"], seven["vocab_size"]) == (32, 4096, 32, 11008, 32000)
    from trainer.model import param_counts

    n = param_counts({**seven, "top_k": 2})["total"]
    assert 6.5e9 < n < 6.9e9  # LLaMA-7B has 6.74B parameters
    assert 1.0e9 < param_counts({**PRESETS["1b"], "top_k": 2})["total"] < 1.2e9
    assert 1.0e8 < param_counts({**PRESETS["125m"], "top_k": 2})["total"] < 1.6e8


def test_overrides_and_phase_plan(blend):
    raw = apply_overrides({"training": {"lr": 1}}, ["training.lr=3e-4", "parallel.tp=2",
                                                    "model.hidden_size=96"])
    assert raw["training"]["lr"] == 3e-4 and raw["parallel"]["tp"] == 2
    assert raw["model"]["hidden_size"] == 96
    with pytest.raises(ConfigError):
        apply_overrides({}, ["no-equals-sign"])
    b = load_blend(blend)
    # a run shorter than the curriculum stops inside the first phase
    assert plan_phases(b, 256, 5) == [{"index": 0, "name": "general", "start_iter": 0,
                                       "end_iter": 5, "weights": {"a": 0.8, "b": 0.2}}]
    # a longer run keeps training on the last phase's blend
    assert plan_phases(b, 256, 30)[-1]["end_iter"] == 30


def test_resolve_gpu_defaults(blend):
    cfg = resolve({"data": {"blend": str(blend)}, "model": {"preset": "125m"},
                   "training": {"global_batch": 64}}, world_size=8,
                  cuda=True)
    assert cfg["precision"] == "bf16" and cfg["parallel"]["distributed_optimizer"] is True
    assert cfg["model"]["vocab_size"] == 32000


def test_lr_schedule_warmup_then_cosine_to_min_lr():
    from trainer.loop import lr_at

    tr = {"lr": 1e-3, "min_lr": 1e-4, "warmup_iters": 10, "train_iters": 110}
    assert lr_at(tr, 0) == pytest.approx(1e-4)  # linear warm-up: (0+1)/10 of lr
    assert lr_at(tr, 9) == pytest.approx(1e-3)
    assert lr_at(tr, 60) == pytest.approx(0.5 * (1e-3 + 1e-4))  # half way down the cosine
    assert lr_at(tr, 110) == pytest.approx(1e-4)
    lrs = [lr_at(tr, i) for i in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_flops_per_token_for_mfu():
    from trainer.model import flops_per_token

    m = {**PRESETS["7b"], "top_k": 2}
    f = flops_per_token(m, 2048)
    # 6N with N ~ 6.6B matmul parameters, plus 12*L*h*s attention
    assert 6 * 6.5e9 + 12 * 32 * 4096 * 2048 < f < 6 * 6.7e9 + 12 * 32 * 4096 * 2048
    moe = {**PRESETS["tiny-moe"], "vocab_size": 256}
    dense_equiv = {**moe, "num_experts": None}
    # top-2 of 4 experts: the active MLP FLOPs are twice a dense MLP's
    assert flops_per_token(moe, 32) > flops_per_token(dense_equiv, 32)


def test_blend_with_an_empty_split_is_refused_before_launch(tmp_path):
    """megatron-core would loop forever building a valid split with no document."""
    from trainer.blend import BlendError

    blend_path = make_blend(tmp_path, [{"name": "main", "tokens": 1000, "weights": {"a": 0.5, "b": 0.5}}],
                            docs=20, split="98,1,1")
    with pytest.raises(BlendError, match="has no valid document under split '98,1,1'"):
        load_blend(blend_path)
    assert load_blend(make_blend(tmp_path / "ok", [{"name": "main", "tokens": 1000, "weights": {"a": 1.0}}],
                                 docs=20, split="100,0,0")).split == "100,0,0"
