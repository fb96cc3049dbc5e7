"""Quality classifier: shared preprocessing, `garden classifier train` metrics, scoring, seeded Pareto keep, recipe run."""
from __future__ import annotations

import gzip
import json
import os

import pyarrow.parquet as pq
import pytest

from conftest import REPO, read_data, read_stats, run_garden, write_jsonl, write_recipe
from operators.quality import MAX_TOKENS, NEWLINE_TOKEN, classifier_text, score_texts
from operators.lang import load_fasttext
from operators.quality.classifier import QualityClassifier, pareto_keep

DATA = os.path.join(REPO, "recipes", "data", "classifier")


def test_classifier_text_is_one_line_of_tokens_for_any_script():
    text = "Hello, World!\n\n我们使用Debian 2023年\tv1.2 😀"
    out = classifier_text(text)
    assert "\n" not in out
    assert out.split() == ["hello", ",", "world", "!", NEWLINE_TOKEN, "我", "们", "使", "用", "debian",
                           "0000", "年", "v0", ".", "0", "😀"]
    assert classifier_text("") == "" and classifier_text("  \n\t ") == ""
    assert len(classifier_text("word " * 100_000).split()) == MAX_TOKENS  # very long input is bounded


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "quality.bin"
    proc = run_garden("classifier", "train", "--positive", os.path.join(DATA, "positive.jsonl.gz"),
                      "--negative", os.path.join(DATA, "negative.jsonl.gz"), "--out", out,
                      "--max-docs", 400, "--dim", 16, "--epoch", 15)
    return out, proc.stdout


@pytest.mark.slow
def test_train_prints_and_writes_heldout_metrics(trained):
    out, stdout = trained
    assert "precision" in stdout and "recall" in stdout and "F1" in stdout
    metrics = json.loads(out.with_name("quality.metrics.json").read_text())
    assert metrics["n_positive"] == 400 and metrics["n_negative"] == 400
    assert 40 <= metrics["n_test"] <= 120 and metrics["n_train"] + metrics["n_test"] == 800
    assert metrics["f1"] >= 0.9 and metrics["precision"] >= 0.85 and metrics["recall"] >= 0.85


@pytest.mark.slow
def test_scores_separate_heldout_prose_from_markup(trained):
    model = load_fasttext(str(trained[0]))
    with gzip.open(os.path.join(DATA, "demo_input.jsonl.gz"), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    scores = score_texts(model, [r["text"] for r in rows])
    correct = sum((s >= 0.5) == (r["label"] == "positive") for s, r in zip(scores, rows))
    assert correct / len(rows) >= 0.9
    # inference reads text exactly as training did: the same function, one batched call
    labels, probs = model.predict(classifier_text(rows[0]["text"]), k=-1)
    assert scores[0] == round(float(dict(zip(labels, probs))["__label__hq"]), 4)
    # nothing the model knows → 0, not fastText's featureless default of 1.0 for the first label
    assert score_texts(model, ["", "   \n ", "😀😀", "qqzzxxyy"]) == [0.0, 0.0, 0.0, 0.0]
    mixed, = score_texts(model, ["这是一段关于内核文档的中文说明，其中提到 English words 和 Debian。"])
    assert 0.0 < mixed <= 1.0


def test_pareto_keep_is_seeded_per_document_and_follows_the_distribution():
    ids = [f"doc-{i}" for i in range(4000)]
    first = [pareto_keep(i, 0.5, 9.0, seed=1) for i in ids]
    assert first == [pareto_keep(i, 0.5, 9.0, seed=1) for i in ids]  # same (seed, id) → same draw
    assert first != [pareto_keep(i, 0.5, 9.0, seed=2) for i in ids]
    # numpy's pareto is Lomax: P(X > 1 - s) = (2 - s) ** -alpha
    assert abs(sum(first) / len(ids) - 1.5 ** -9) < 0.01
    assert sum(pareto_keep(i, 0.99, 9.0, 0) for i in ids) / len(ids) > 0.9


def test_missing_model_fails_at_validation():
    params = {p.name: p.default for p in QualityClassifier.params()}
    with pytest.raises(ValueError, match="garden classifier train"):
        QualityClassifier.validate_params({**params, "model": "/nonexistent/quality.bin"})


@pytest.mark.slow
def test_quality_classifier_through_garden_run_is_worker_independent(trained, tmp_path):
    with gzip.open(os.path.join(DATA, "demo_input.jsonl.gz"), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    inp = write_jsonl(tmp_path / "in.jsonl", rows * 4)  # ids are regenerated per line: 200 documents
    pipeline = [{"quality_classifier": {"model": str(trained[0]), "pareto_alpha": 9.0, "seed": 3}}]
    outs = []
    for workers in (1, 2):
        recipe = write_recipe(tmp_path, pipeline, [{"path": inp, "source": "demo", "id_field": "none"}],
                              output=f"out{workers}", workers=workers, shard_size=20_000)
        run_garden("run", recipe, "-q")
        outs.append(tmp_path / f"out{workers}")
    kept = read_data(outs[0])
    assert kept == read_data(outs[1])
    assert all(0.0 <= r["quality_score"] <= 1.0 for r in kept)
    rejected = [r for f in sorted((outs[0] / "rejected" / "quality_classifier").glob("*.parquet"))
                for r in pq.read_table(f).to_pylist()]
    assert len(kept) + len(rejected) == 200
    for row, verdict in [(r, True) for r in kept] + [(r, False) for r in rejected]:
        assert pareto_keep(row["id"], row["quality_score"], 9.0, 3) is verdict
    labels = {r["text"]: r["label"] for r in rows}
    kept_share = {side: sum(labels[r["text"]] == side for r in kept) / sum(labels[r["text"]] == side for r in rows * 4)
                  for side in ("positive", "negative")}
    assert kept_share["positive"] > 0.5 and kept_share["negative"] < 0.1
    op = next(o for o in read_stats(outs[0])["ops"] if o["name"] == "quality_classifier")
    assert op["dropped"] == {"quality_classifier:pareto": 200 - len(kept)}


def test_train_lang_option_keeps_only_those_languages():
    from garden.commands.classifier import _pick

    texts = ["The kernel documentation explains how to configure the scheduler for servers.",
             "内核文档说明了如何为服务器配置调度器，以及常见问题的解决方法。",
             "Die Kernel-Dokumentation erklärt, wie man den Scheduler für Server konfiguriert."]
    assert _pick(texts, ("zh",), None, 0) == [texts[1]]
    assert _pick(texts, ("en", "de"), None, 0) == [texts[0], texts[2]]
    assert len(_pick(texts, (), 2, 0)) == 2 and _pick(texts, (), 2, 0) == _pick(texts, (), 2, 0)


@pytest.mark.slow
def test_shipped_demo_recipe_runs(trained, tmp_path):
    """recipes/classifier-demo.yaml as shipped, with its model path pointed at the test's model."""
    import yaml

    with open(os.path.join(REPO, "recipes", "classifier-demo.yaml"), encoding="utf-8") as fh:
        recipe = yaml.safe_load(fh)
    for spec in recipe["inputs"]:
        spec["path"] = os.path.join(REPO, spec["path"])
    for step in recipe["pipeline"]:
        if "quality_classifier" in step:
            assert step["quality_classifier"]["model"] == "out/quality.bin"  # what the README's command writes
            step["quality_classifier"]["model"] = str(trained[0])
    recipe["output"] = str(tmp_path / "demo")
    path = tmp_path / "classifier-demo.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    run_garden("run", path, "-q")
    kept = read_data(tmp_path / "demo")
    with gzip.open(os.path.join(DATA, "demo_input.jsonl.gz"), "rt", encoding="utf-8") as fh:
        labels = {r["text"]: r["label"] for r in map(json.loads, fh)}
    assert kept and sum(labels[r["text"]] == "positive" for r in kept) >= 0.9 * len(kept)
    assert {r["lang"] for r in kept} <= {"en", "zh"} and "blocklist_hits" in kept[0]
