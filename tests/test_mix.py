"""mix / curriculum arithmetic, validation and the files they write (no tokenization needed)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from garden.megatron_format import IndexedDatasetWriter
from garden.operator import StageContext
from garden.recipe import RecipeError, recipe_from_dict
from operators.mix import BlendError, empty_splits, plan
from operators.mix.mix import Curriculum, Mix

AVAILABLE = {"web": 1_000_000, "code": 200_000, "books": 50_000}


def _tokens_run(tmp_path) -> StageContext:
    """A run dir with tiny .bin/.idx and tokens.json as `tokenize` writes them."""
    sources = {}
    for name, tokens in AVAILABLE.items():
        w = IndexedDatasetWriter(str(tmp_path / "tokens" / name), np.uint16)
        docs = 200
        for _ in range(docs):
            w.add_document(np.ones(tokens // docs, dtype=np.uint16))
        sources[name] = {"prefix": f"tokens/{name}", **w.finalize()}
    manifest = {"version": 1, "tokenizer": {"path": "tokenizer/tokenizer.json", "vocab_size": 1000, "eod_id": 0},
                "dtype": "uint16", "sources": sources}
    (tmp_path / "tokens.json").write_text(json.dumps(manifest))
    return StageContext(run_dir=str(tmp_path), work_dir=str(tmp_path / "op"),
                        artifacts={"tokens": str(tmp_path / "tokens.json")})


def test_epochs_and_repeat_warning():
    phases, epochs, warnings = plan(AVAILABLE, [{"name": "a", "tokens": 1e6, "weights": {"web": 6, "code": 3, "books": 1}}], 1.5)
    (ph,) = phases
    assert ph["weights"] == pytest.approx({"web": 0.6, "code": 0.3, "books": 0.1})
    assert ph["epochs"] == pytest.approx({"web": 0.6, "code": 1.5, "books": 2.0})
    assert [w.split("'")[1] for w in warnings] == ["books"]  # 2.0 > 1.5; code at exactly 1.5 is fine
    with pytest.raises(BlendError, match="unknown source"):
        plan(AVAILABLE, [{"name": "a", "tokens": 10, "weights": {"wiki": 1}}], 4)


def test_mix_writes_blend_and_megatron_files(tmp_path):
    ctx = _tokens_run(tmp_path)
    result = Mix(weights={"web": 0.7, "code": 0.3}, total_tokens=500_000, split="100,0,0").finalize(ctx)
    blend = json.loads((tmp_path / "blend.json").read_text())
    assert result["artifacts"]["blend"] == str(tmp_path / "blend.json")
    assert blend["phases"][0]["weights"] == {"code": 0.3, "web": 0.7}
    assert blend["phases"][0]["epochs"] == pytest.approx({"web": 0.35, "code": 0.75})
    assert set(blend["sources"]) == set(AVAILABLE) and blend["split"] == "100,0,0"
    text = (tmp_path / blend["megatron"]["data_args_path"]).read_text().split()
    assert text == ["0.3", str(tmp_path / "tokens" / "code"), "0.7", str(tmp_path / "tokens" / "web")]
    per_split = json.loads((tmp_path / blend["megatron"]["per_split_data_args_path"]).read_text())
    for split in ("train", "valid", "test"):  # Megatron-LM's form: ["w1", "prefix1", "w2", "prefix2"]
        weights, prefixes = per_split[split][0::2], per_split[split][1::2]
        assert list(map(float, weights)) == [0.3, 0.7] and all(os.path.exists(p + ".bin") for p in prefixes)
    from trainer.blend import load_blend

    assert load_blend(tmp_path / "blend.json").phases[0]["weights"] == {"code": 0.3, "web": 0.7}


def test_natural_mix_uses_every_token_once(tmp_path):
    ctx = _tokens_run(tmp_path)
    Mix(split="100,0,0").finalize(ctx)
    (ph,) = json.loads((tmp_path / "blend.json").read_text())["phases"]
    assert ph["tokens"] == sum(AVAILABLE.values())
    assert ph["epochs"] == pytest.approx({s: 1.0 for s in AVAILABLE})


def test_strict_fails_on_repetition(tmp_path):
    ctx = _tokens_run(tmp_path)
    with pytest.raises(BlendError, match="books"):
        Mix(weights={"books": 1}, total_tokens=1e6, max_epochs=4, strict=True, split="100,0,0").finalize(ctx)
    assert not (tmp_path / "blend.json").exists()


def test_curriculum_phases_accumulate_epochs(tmp_path):
    ctx = _tokens_run(tmp_path)
    phases = [{"name": "general", "tokens": 800_000, "weights": {"web": 0.9, "code": 0.1}},
              {"name": "anneal", "tokens": 200_000, "weights": {"web": 0.4, "code": 0.4, "books": 0.2}}]
    result = Curriculum(phases=phases, max_epochs=1.0, split="100,0,0").finalize(ctx)
    blend = json.loads((tmp_path / "blend.json").read_text())
    assert [p["name"] for p in blend["phases"]] == ["general", "anneal"]
    assert blend["epochs"] == pytest.approx({"web": 0.8, "code": 0.8, "books": 0.8})
    assert result["warnings"] == []
    assert os.path.exists(tmp_path / "megatron" / "anneal.data_args.txt")
    from garden.commands.blend import blend as blend_cli

    out = CliRunner().invoke(blend_cli, ["show", str(tmp_path / "blend.json")], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "general" in out.output and "anneal" in out.output and "×0.72" in out.output  # web in general
    rows = json.loads(CliRunner().invoke(blend_cli, ["show", "--json", str(tmp_path / "blend.json")]).output)
    books = next(r for r in rows if r["source"] == "books")
    assert books["phases"][0]["share"] == 0 and books["phases"][1]["tokens"] == 40_000


def test_empty_megatron_split_is_refused(tmp_path):
    # Megatron's rounding: 11 documents, 98/1/1 -> train 11, valid 0, test 0
    assert empty_splits("98,1,1", {"tiny": 11, "big": 1000}) == [
        "tiny (11 documents) has no valid document under split '98,1,1'",
        "tiny (11 documents) has no test document under split '98,1,1'"]
    assert empty_splits("98,1,1", {"ok": 200}) == []
    ctx = _tokens_run(tmp_path)
    with pytest.raises(BlendError, match="empty split"):
        Mix(split="99.9,0.05,0.05").finalize(ctx)  # 200 documents: 0.05 % is none
    Mix(split="98,1,1").finalize(ctx)


@pytest.mark.parametrize("step,match", [
    ({"mix": {"weights": {"web": -1}}}, "weight"),
    ({"mix": {"split": "98,2"}}, "split"),
    ({"curriculum": {"phases": []}}, "at least one"),
    ({"curriculum": {"phases": [{"name": "a", "tokens": 0, "weights": {"web": 1}}]}}, "positive"),
    ({"curriculum": {"phases": [{"name": "a", "tokens": 5, "weights": {"web": 1}},
                                {"name": "a", "tokens": 5, "weights": {"web": 1}}]}}, "duplicate"),
    ({"tokenize": {"valid_fraction": 0.6, "test_fraction": 0.5}}, "fraction"),
    ({"train_tokenizer": {"pre_tokenizer": {"cjk": "words"}}}, "cjk"),
])
def test_recipe_validation(tmp_path, step, match):
    data = {"inputs": [{"path": str(tmp_path), "source": "web"}], "output": str(tmp_path / "o"), "pipeline": [step]}
    with pytest.raises(RecipeError, match=match):
        recipe_from_dict(data, check_inputs=False)
