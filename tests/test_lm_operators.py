"""train_lm → perplexity in one recipe (per-language percentile cut-offs, lines, buckets), dsir selection,
`garden lm`, and bad input caught at validate time."""
import gzip
import json
import os
import random

import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe

pytestmark = pytest.mark.slow

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "lm")


def rows(name: str) -> list[dict]:
    with gzip.open(os.path.join(FIX, name), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def op_stats(stats: dict, name: str) -> dict:
    return next(o for o in stats["ops"] if o["name"] == name)


@pytest.fixture(scope="module")
def zh_model(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("lm") / "zh"
    proc = run_garden("lm", "train", os.path.join(FIX, "zh_train.jsonl.gz"), "-o", out, "--order", 4, "--arpa")
    assert "model.npz" in proc.stdout
    return str(out)


def test_cli_train_and_score(zh_model):
    assert os.path.exists(os.path.join(zh_model, "model.npz")) and os.path.exists(os.path.join(zh_model, "model.arpa"))
    clean = run_garden("lm", "score", zh_model, "内核文档的中文翻译").stdout.split()[0]
    noisy = run_garden("lm", "score", os.path.join(zh_model, "model.arpa"), "档翻的文内中核译文").stdout.split()[0]
    assert float(noisy) > 2 * float(clean)
    assert run_garden("lm", "score", zh_model, "   ").stdout.split()[0] == "null"
    bad = run_garden("lm", "score", os.path.join(FIX, "make_fixtures.py"), "x", check=False)
    assert bad.returncode == 2 and "not a Garden n-gram model" in bad.stderr and "Traceback" not in bad.stderr


def test_train_lm_then_perplexity_percentile_in_one_recipe(tmp_path):
    rng = random.Random(0)
    test = rows("zh_test.jsonl.gz")
    web = [{"id": f"clean-{i}", "text": r["text"]} for i, r in enumerate(test[:60])]
    web += [{"id": f"shuffled-{i}", "text": "".join(rng.sample(r["text"], len(r["text"])))} for i, r in enumerate(test[60:75])]
    web += [{"id": "french", "text": "Bonjour à tous, ceci est un paragraphe écrit en français pour le test."},
            {"id": "blank", "text": "   "}]
    inputs = [{"path": os.path.join(FIX, "zh_train.jsonl.gz"), "source": "trusted"},
              {"path": write_jsonl(tmp_path / "web.jsonl", web), "source": "web"}]
    recipe = write_recipe(tmp_path, [{"language": {}},
                                     {"train_lm": {"order": 4, "languages": ["zh"], "from_sources": ["trusted"]}},
                                     {"perplexity": {"model": "auto", "max_percentile": 75, "only_sources": ["web"]}}],
                           inputs)
    run_garden("run", recipe, "-q")
    out = tmp_path / "out"
    stats = read_stats(out)
    result = op_stats(stats, "perplexity")
    zh = result["languages"]["zh"]
    n_zh = zh["scored_documents"]
    assert zh["above_cutoff_documents"] == result["dropped"]["perplexity:high_perplexity"]
    assert n_zh == 75 and zh["above_cutoff_documents"] in (18, 19)  # a quarter of the web's own Chinese docs
    assert result["languages"]["fr"]["unscored_no_model"] == 1
    kept = {r["id"]: r for r in read_data(out) if r["source"] == "web"}
    assert not any(i.startswith("shuffled") for i in kept)  # every shuffled paragraph is in the top quarter
    assert sum(i.startswith("clean") for i in kept) == 60 - (zh["above_cutoff_documents"] - 15)
    assert kept["french"]["perplexity"] is None and kept["blank"]["perplexity"] is None
    assert all(r["perplexity"] > 1 for i, r in kept.items() if i.startswith("clean"))
    assert os.path.exists(out / "lm" / "zh" / "model.npz")
    assert op_stats(stats, "train_lm")["models"]["zh"]["trained_on"]["sentences"] > 1000
    assert stats["sources"]["trusted"]["kept"] == 1500  # not scored: only_sources
    report = (out / "report.html").read_text()
    assert "id='perplexity'" in report or 'id="perplexity"' in report
    assert str(zh["cutoff"]) in report


def test_per_line_removes_noisy_lines_and_keeps_the_rest(tmp_path, zh_model):
    rng = random.Random(1)
    paras = [r["text"] for r in rows("zh_test.jsonl.gz")]
    docs, noisy = [], set()
    for i in range(30):
        good = [p.replace("\n", "") for p in paras[3 * i:3 * i + 3]]
        bad = "".join(rng.choice("qwertyuiopasdfghjkl的一是在") for _ in range(40))
        noisy.add(bad)
        lines = good[:2] + [bad] + good[2:]
        docs.append({"id": f"d{i}", "text": "\n".join(lines)})
    inputs = [{"path": write_jsonl(tmp_path / "in.jsonl", docs), "source": "web"}]
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": zh_model, "per": "line", "max_percentile": 75}}],
                          inputs)
    run_garden("run", recipe, "-q")
    stats = read_stats(tmp_path / "out")
    langs = op_stats(stats, "perplexity")["languages"]["unknown"]  # no language step: one group
    assert langs["scored_lines"] == 120 and langs["above_cutoff_lines"] == 30
    out = read_data(tmp_path / "out")
    assert len(out) == 30
    removed_noisy = sum(not any(b in r["text"] for b in noisy) for r in out)
    assert removed_noisy >= 27  # nearly every noisy line is among the removed quarter
    originals = {d["id"]: set(d["text"].split("\n")) for d in docs}
    assert all(set(r["text"].split("\n")) <= originals[r["id"]] for r in out)


def test_bucket_mode_splits_at_per_language_percentiles(tmp_path, zh_model):
    docs = [{"id": f"d{i}", "text": r["text"]} for i, r in enumerate(rows("zh_test.jsonl.gz"))]
    inputs = [{"path": write_jsonl(tmp_path / "in.jsonl", docs), "source": "web"}]
    recipe = write_recipe(tmp_path, [{"perplexity": {"models": {"zh": zh_model}, "mode": "bucket"}},
                                     ], inputs)
    # no lang column: `models` by language finds no language → every document passes unscored
    run_garden("run", recipe, "-q")
    out = read_data(tmp_path / "out")
    assert len(out) == 100 and all(r["ppl_bucket"] is None for r in out)
    recipe = write_recipe(tmp_path, [{"perplexity": {"model": zh_model, "mode": "bucket"}}], inputs, output="out2")
    run_garden("run", recipe, "-q")
    out = read_data(tmp_path / "out2")
    counts = {b: sum(r["ppl_bucket"] == b for r in out) for b in ("head", "middle", "tail")}
    assert counts == {"head": 30, "middle": 30, "tail": 40}
    head = max(r["perplexity"] for r in out if r["ppl_bucket"] == "head")
    assert head <= min(r["perplexity"] for r in out if r["ppl_bucket"] == "tail")


@pytest.mark.parametrize("params, message", [
    ({"model": "nowhere/model.npz", "max_perplexity": 100}, "model: model not found: nowhere/model.npz"),
    ({"models": {"zh": "__file__"}, "max_perplexity": 100}, "models.zh:"),
    ({"model": "auto", "max_percentile": 90}, "model: auto needs a train_lm step"),
    ({"model": "auto"}, "mode: drop needs max_perplexity or max_percentile"),
])
def test_bad_model_parameters_fail_at_validate(tmp_path, params, message):
    params = {k: ({"zh": os.path.abspath(__file__)} if v == {"zh": "__file__"} else v) for k, v in params.items()}
    inputs = [{"path": write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}]), "source": "s"}]
    proc = run_garden("validate", write_recipe(tmp_path, [{"perplexity": params}], inputs), check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "pipeline[0]" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("params, message", [
    ({"target": ["nowhere.jsonl"], "keep_fraction": 0.2}, "target: no such file: nowhere.jsonl"),
    ({"target": [__file__], "keep_fraction": 0.2, "target_tokens": 1000}, "exactly one of keep_fraction"),
    ({"target": [__file__], "keep_fraction": 1.5}, "keep_fraction must be in (0, 1]"),
])
def test_bad_dsir_parameters_fail_at_validate(tmp_path, params, message):
    inputs = [{"path": write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}]), "source": "s"}]
    proc = run_garden("validate", write_recipe(tmp_path, [{"dsir": params}], inputs), check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def dsir_recipe(tmp_path, workers: int, output: str) -> str:
    inputs = [{"path": os.path.join(FIX, f"pool_{s}.jsonl.gz"), "source": s}
              for s in ("python_docs", "kernel_docs", "fortunes", "zh_fortunes")]
    step = {"dsir": {"target": [os.path.join(FIX, "target_python_docs.jsonl.gz")], "keep_fraction": 0.2, "seed": 1}}
    return write_recipe(tmp_path, [step], inputs, output=output, workers=workers, shard_size="40KB")


def test_dsir_selects_the_target_source_for_any_worker_count(tmp_path):
    run_garden("run", dsir_recipe(tmp_path, 2, "w2"), "-q")
    stats = read_stats(tmp_path / "w2")
    assert op_stats(stats, "dsir")["selected"] == 120
    kept = read_data(tmp_path / "w2")
    share = sum(r["source"] == "python_docs" for r in kept) / len(kept)
    print(f"dsir: {share:.1%} of the kept documents are from the target's source")
    assert len(kept) == 120 and share >= 0.8
    assert all(isinstance(r["dsir_weight"], float) for r in kept)
    run_garden("run", dsir_recipe(tmp_path, 1, "w1"), "-q")
    assert sorted(r["id"] for r in read_data(tmp_path / "w1")) == sorted(r["id"] for r in kept)


def test_buckets_become_mix_sources(tmp_path, zh_model):
    docs = [{"id": f"d{i}", "text": r["text"]} for i, r in enumerate(rows("zh_test.jsonl.gz"))]
    inputs = [{"path": write_jsonl(tmp_path / "in.jsonl", docs), "source": "web"}]
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([d["text"] for d in docs], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    pipeline = [{"perplexity": {"model": zh_model, "mode": "bucket"}},
                {"tokenize": {"tokenizer": str(tmp_path / "tokenizer.json"), "split_by": "ppl_bucket"}},
                {"mix": {"total_tokens": 20000, "split": "100,0,0", "weights": {"web:head": 0.6, "web:middle": 0.3, "web:tail": 0.1}}}]
    run_garden("run", write_recipe(tmp_path, pipeline, inputs), "-q")
    manifest = json.loads((tmp_path / "out" / "tokens.json").read_text())
    assert {s: e["documents"] for s, e in manifest["sources"].items()} == {"web:head": 30, "web:middle": 30,
                                                                           "web:tail": 40}
    blend = json.loads((tmp_path / "out" / "blend.json").read_text())
    assert blend["phases"][0]["weights"] == {"web:head": 0.6, "web:middle": 0.3, "web:tail": 0.1}
    bad = write_recipe(tmp_path, [{"tokenize": {"tokenizer": zh_model, "split_by": "ppl_bucket"}}], inputs)
    proc = run_garden("validate", bad, check=False)
    assert proc.returncode == 2 and "split_by: ppl_bucket needs a perplexity step" in proc.stderr


def test_analyze_shows_perplexity_per_language_and_source(tmp_path, zh_model):
    out = tmp_path / "analysis"
    run_garden("analyze", os.path.join(FIX, "zh_test.jsonl.gz"), os.path.join(FIX, "pool_fortunes.jsonl.gz"),
               "--lm", f"zh={zh_model}", "-o", out, "-q")
    analysis = json.loads((out / "analysis.json").read_text())
    zh = analysis["by_language"]["zh"]["stats"]["perplexity"]
    assert zh["count"] == 100 and 1 < zh["min"] <= zh["median"] <= zh["max"]
    assert analysis["by_language"]["en"]["stats"]["perplexity"]["count"] == 0  # no English model: unscored
    assert analysis["by_source"]["zh_test"]["stats"]["perplexity"]["count"] == 100
    assert "perplexity" in (out / "report.html").read_text()
    bad = run_garden("analyze", os.path.join(FIX, "zh_test.jsonl.gz"), "--lm", "zh=" + __file__, "-o", out, "-q",
                     check=False)
    assert bad.returncode == 2 and "--lm zh=" in bad.stderr and "Traceback" not in bad.stderr


def test_train_lm_model_bytes_do_not_depend_on_workers(tmp_path):
    inputs = [{"path": os.path.join(FIX, "en_train.jsonl.gz"), "source": "docs"}]
    for workers in (1, 2):
        recipe = write_recipe(tmp_path, [{"train_lm": {"order": 3, "max_size": "300KB"}}], inputs,
                              output=f"w{workers}", workers=workers, shard_size="100KB")
        run_garden("run", recipe, "-q")
    one, two = (tmp_path / "w1" / "lm" / "all" / "model.npz"), (tmp_path / "w2" / "lm" / "all" / "model.npz")
    assert one.read_bytes() == two.read_bytes() and one.stat().st_size <= 300 * 1024
