"""`garden plan`: the published optima, the closed form, data-constrained blends, the written
config, memory bookkeeping across layouts, and bad input.  Torch-free (the comparisons with a
built megatron-core model are in test_plan_memory.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from garden.cli import main
from garden.megatron_format import IndexedDatasetWriter
from trainer.plan import memory
from trainer.plan.scaling_laws import EPOCH, HOFFMANN, effective_tokens, rule_of_thumb
from trainer.plan.shapes import custom_shape, param_counts

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA_FLOPS = 5.76e23


def plan(*args: str, ok: bool = True):
    r = CliRunner().invoke(main, ["plan", *args])
    if ok:
        assert r.exit_code == 0, r.output
    return r


def plan_json(*args: str) -> dict:
    return json.loads(plan(*args, "--json").stdout)


def write_blend(root: Path, unique: dict[str, int], planned: int, weights: dict[str, float],
                vocab: int = 256) -> Path:
    """blend.json (docs/blend-format.md) over sources of `unique[s]` tokens in 100-token docs."""
    sources = {}
    for s, n in unique.items():
        w = IndexedDatasetWriter(str(root / "tokens" / s), np.uint16)
        for start in range(0, n, 100):
            w.add_document(np.arange(min(100, n - start)) % vocab)
        w.finalize()
        sources[s] = {"prefix": f"tokens/{s}", "documents": -(-n // 100), "tokens": n}
    blend = {"version": 1, "tokenizer": {"vocab_size": vocab, "eod_id": 0}, "dtype": "uint16",
             "sources": sources, "split": "100,0,0",
             "phases": [{"name": "main", "tokens": planned, "weights": weights}]}
    (root / "blend.json").write_text(json.dumps(blend))
    return root / "blend.json"


def test_chinchilla_budget_both_fits_side_by_side():
    n, d = EPOCH.optimal_for_compute(CHINCHILLA_FLOPS)
    assert n == pytest.approx(70e9, rel=0.10) and d == pytest.approx(1.4e12, rel=0.10)
    n3, d3 = HOFFMANN.optimal_for_compute(CHINCHILLA_FLOPS)
    assert 30e9 <= n3 <= 40e9 and d3 == pytest.approx(3e12, rel=0.10)
    assert 6 * n * d == pytest.approx(CHINCHILLA_FLOPS) and 6 * n3 * d3 == pytest.approx(CHINCHILLA_FLOPS)
    out = plan_json("--compute", "5.76e23")
    got = {o["law"]: (o["n_params"], o["tokens"]) for o in out["optima"]}
    assert got["epoch"] == pytest.approx((n, d)) and got["hoffmann"] == pytest.approx((n3, d3))
    assert out["rule"]["n_params"] == pytest.approx(math.sqrt(CHINCHILLA_FLOPS / 120))
    text = plan("--compute", "5.76e23").output
    for needle in ("72.2B", "1.33T", "32.2B", "2.98T", "20 tokens/param", "arXiv:2203.15556",
                   "arXiv:2404.10102", "arXiv:2305.16264", "non-embedding"):
        assert needle in text, needle


@pytest.mark.parametrize("law", [EPOCH, HOFFMANN], ids=lambda x: x.name)
def test_closed_form_minimises_loss_at_fixed_compute(law):
    for c in (1e18, 1e21, 1e24):
        n, d = law.optimal_for_compute(c)
        best = law.loss(n, d)
        for f in (0.8, 0.95, 1.05, 1.25):  # move along C = 6 N D
            assert law.loss(n * f, d / f) > best
        n2, c2 = law.optimal_for_tokens(d)  # the inverse maps D_opt back to (N_opt, C)
        assert n2 == pytest.approx(n) and c2 == pytest.approx(c)
    assert rule_of_thumb(1.2e21) == pytest.approx((math.sqrt(1e19), 20 * math.sqrt(1e19)))


def test_effective_data_under_repetition():
    assert effective_tokens(100, 80) == 80  # less than one epoch: all fresh
    assert effective_tokens(100, 100) == 100
    # five epochs = four repetitions: 100 + 100 * 15.4 * (1 - exp(-4 / 15.4))
    assert effective_tokens(100, 500) == pytest.approx(100 + 1540 * (1 - math.exp(-4 / 15.4)))
    assert effective_tokens(100, 1e9) == pytest.approx(100 * 16.4, rel=1e-6)  # saturates at U(1+R*)


def test_blend_data_constrained_warns_above_four_epochs(tmp_path):
    blend = write_blend(tmp_path, {"web": 20_000, "code": 5_000}, planned=50_000,
                        weights={"web": 0.6, "code": 0.4})
    out = plan_json("--blend", str(blend))
    # the blend alone: D = its planned tokens, drawn 60/40 from 20k and 5k unique tokens
    d = out["data"]
    assert out["tokens"] == pytest.approx(50_000) and d["unique_tokens"] == 25_000
    src = {s["name"]: s for s in d["sources"]}
    assert src["web"]["epochs"] == pytest.approx(1.5) and src["code"]["epochs"] == pytest.approx(4.0)
    assert d["effective_tokens"] == pytest.approx(effective_tokens(20_000, 30_000)
                                                  + effective_tokens(5_000, 20_000))
    assert d["constrained"] and d["loss_repeated"] > d["loss_fresh"]
    assert not any("epochs" in w for w in out["warnings"])  # 4.0 is not above 4
    text = plan("--blend", str(blend), "--compute", "1e12").output
    assert "data-constrained" in text and "Muennighoff" in text
    assert "source 'code' would be repeated" in text and "source 'web' would be repeated" in text


def test_written_config_loads_in_the_trainer(tmp_path):
    from trainer.config import load_raw, resolve

    blend = write_blend(tmp_path, {"web": 30_000}, planned=30_000, weights={"web": 1.0})
    cfg_path = tmp_path / "train.yaml"
    out = plan_json("--blend", str(blend), "--compute", "3e21", "--gpus", "16",
                          "--write-config", str(cfg_path))
    raw = load_raw(cfg_path)
    rec = out["recommended"]
    cfg = resolve(raw, world_size=16, cuda=True, base_dir=tmp_path)
    shape = out["shape"]
    for k in ("num_layers", "hidden_size", "num_attention_heads", "num_query_groups",
              "ffn_hidden_size", "vocab_size"):
        assert cfg["model"][k] == shape[k], k
    assert param_counts(cfg["model"])["total"] == shape["total_params"]
    assert (cfg["parallel"]["tp"], cfg["parallel"]["pp"], cfg["parallel"]["dp"]) == \
        (rec["tp"], rec["pp"], rec["dp"])
    tr = out["training"]
    assert cfg["training"]["train_iters"] == tr["train_iters"]
    assert cfg["training"]["global_batch"] == tr["global_batch"]
    assert cfg["training"]["tokens_per_iter"] * tr["train_iters"] >= out["tokens"]
    assert cfg["data"]["blend"] == str(blend.resolve())
    assert "garden train train.yaml --nproc 8 --nnodes 2" in cfg_path.read_text()


def test_gpu_hours_budget_and_wall_time():
    out = plan_json("--gpus", "8", "--hours", "24", "--gpu", "h100", "--mfu", "0.5")
    assert out["compute_flops"] == pytest.approx(8 * 24 * 3600 * 989e12 * 0.5)
    w = out["wall"]
    # the planned run takes the budget's hours, plus its attention FLOPs (not in C = 6ND)
    assert w["hours"] == pytest.approx(24 * w["flops"] / out["compute_flops"], rel=1e-6)
    assert 1.0 <= w["flops"] / out["compute_flops"] < 1.3
    unknown = plan_json("--gpus", "4", "--hours", "2", "--gpu", "mi300x",
                              "--peak-flops", "1307e12")
    assert unknown["compute_flops"] == pytest.approx(4 * 2 * 3600 * 1307e12 * 0.4)
    assert all(e["fits"] is None for e in unknown["layouts"])  # memory unknown: not judged


def test_custom_shapes_hit_the_target_and_stay_parallel_friendly():
    for target in (3e6, 1.2e8, 1e9, 7e9, 7e10):
        s = custom_shape(target, 32000 if target > 1e7 else 256)
        assert abs(math.log(s.total_params / target)) < 0.05, (target, s)
        assert s.hidden_size % s.num_attention_heads == 0
        assert s.num_attention_heads % s.num_query_groups == 0
        if target >= 1e9:
            assert s.num_query_groups == 8 or s.num_attention_heads % 8 == 0


@pytest.mark.parametrize("tp,pp", [(1, 2), (2, 1), (4, 4), (8, 2)])
def test_per_gpu_parameters_add_up_to_the_model(tp, pp):
    m = custom_shape(7e10, 32000).model_fields()  # 80 layers
    first, last = memory._stage_params(m, tp, pp)
    replicated = 2 * m["hidden_size"] * m["num_layers"] // pp  # layer norms, on every TP rank
    total = param_counts(m)["total"]
    if pp == 1:
        assert tp * first - (tp - 1) * (replicated + m["hidden_size"]) == total
    else:  # pp stages of equal bodies; only the first holds the embedding, the last the head
        body = first - m["vocab_size"] * m["hidden_size"] // tp
        assert tp * (pp * body + 2 * m["vocab_size"] * m["hidden_size"] // tp) \
            - (tp - 1) * pp * replicated + m["hidden_size"] == total
        assert last == first + m["hidden_size"]


def test_activation_memory_is_korthikanti_formula():
    m = {"num_layers": 96, "hidden_size": 12288, "num_attention_heads": 96,
         "num_query_groups": 96, "ffn_hidden_size": 49152, "vocab_size": 51200}  # GPT-3 175B
    s, b, t = 2048, 1, 8
    per_layer = s * b * 12288 * (34 + 5 * 96 * s / 12288) / t
    logits = 4 * s * b * 51200 / t + 4 * s * b * 12288 / t
    assert memory.activation_bytes(m, t, 8, b, s, "none") == pytest.approx(96 * per_layer)
    assert memory.activation_bytes(m, t, 1, b, s, "none") == pytest.approx(96 * per_layer + logits)
    assert memory.activation_bytes(m, t, 8, b, s, "selective") == pytest.approx(96 * s * b * 12288 * 34 / t)
    assert memory.activation_bytes(m, t, 8, b, s, "full") == pytest.approx(
        96 * 2 * s * b * 12288 / t + per_layer)


def test_layouts_that_fit_are_marked():
    out = plan_json("--compute", "5.76e23", "--gpus", "1024", "--gpu", "h100")
    cap = 80e9 * (1 - memory.HEADROOM)
    for e in out["layouts"]:
        zero1 = e["optimizer_zero1"] if e["dp"] > 1 else e["optimizer"]
        base = e["weights"] + e["grads"] + zero1
        need = [base + e["activations"][r] for r in memory.RECOMPUTE]
        if need[0] <= cap:
            assert e["fits"].endswith("none")
        elif need[-1] > cap:
            assert e["fits"] == "no"
        else:
            assert e["fits"] != "no"
    assert {e["fits"] for e in out["layouts"]} >= {"no", "zero1+none"}
    rec = out["recommended"]
    assert rec["fits"] != "no" and rec["tp"] * rec["pp"] == min(
        e["tp"] * e["pp"] for e in out["layouts"] if e["fits"] != "no")


@pytest.mark.parametrize("args,message", [
    (["--compute", "-5"], "--compute must be a positive number"),
    (["--compute", "0"], "--compute must be a positive number"),
    (["--tokens", "0"], "--tokens must be a positive number"),
    (["--gpus", "8", "--hours", "-1", "--gpu", "h100"], "--hours must be a positive number"),
    (["--gpus", "8", "--hours", "10", "--gpu", "v100"], "unknown GPU 'v100'"),
    (["--compute", "1e20", "--mfu", "1.5"], "--mfu must be in (0, 1]"),
    (["--compute", "1e20", "--tokens", "1e9"], "not both"),
    ([], "no budget"),
    (["--compute", "lots"], "'lots' is not a number"),
])
def test_bad_input_is_one_clear_line(args, message):
    r = plan(*args, ok=False)
    assert r.exit_code != 0 and message in r.output, r.output
    assert "Traceback" not in r.output


def test_blend_without_tokens_is_refused(tmp_path):
    empty = write_blend(tmp_path / "empty", {"web": 0}, planned=1000, weights={"web": 1.0})
    r = plan("--blend", str(empty), ok=False)
    assert r.exit_code != 0 and "web (0 documents) has no train document" in r.output
    zero = write_blend(tmp_path / "zero", {"web": 500}, planned=0, weights={"web": 1.0})
    r = plan("--blend", str(zero), ok=False)
    assert r.exit_code != 0 and "phase 0 needs a positive token budget" in r.output


@pytest.mark.slow
def test_plan_does_not_import_torch():
    code = ("import sys; from garden.cli import main\n"
            "try:\n    main(['plan', '--compute', '1e21'])\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None)\nassert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "Compute-optimal size" in r.stdout
