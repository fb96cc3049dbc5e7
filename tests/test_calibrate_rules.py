"""Calibration reaches every rule: grids from the sample, dict-valued targets, refusals before
sampling, rounded suggestions, recipes written with their comments, language labels checked,
and which rule of each filter drops what."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from click.testing import CliRunner

from garden import registry
from garden.analysis import calibrate as cal
from garden.analysis.analyze import run_analysis
from garden.cli import main
from garden.recipe import load_recipe

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "analysis")
EN = os.path.join(FIX, "en_fortunes_150.jsonl")  # Debian fortunes (BSD fortune data), see fixtures/analysis
ZH = os.path.join(FIX, "zh_fortunes_100.jsonl")  # Debian fortunes-zh (GPL-3+), see fixtures/analysis


def _docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def repetitive(tmp_path_factory) -> str:
    """English fortunes, every third one repeated three times over: Gopher's repetition rules have work."""
    path = tmp_path_factory.mktemp("rep") / "en_rep.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, doc in enumerate(_docs(EN)):
            text = "\n".join([doc["text"]] * 3) if i % 3 == 0 else doc["text"]
            fh.write(json.dumps({"id": doc["id"], "text": text}, ensure_ascii=False) + "\n")
    return str(path)


def _recipe(tmp_path, inputs: list[str], pipeline_yaml: str) -> str:
    ins = "\n".join(f"  - {{path: {p}, source: s{i}}}" for i, p in enumerate(inputs))
    path = tmp_path / "recipe.yaml"
    path.write_text(f"name: cal\ninputs:\n{ins}\noutput: {tmp_path / 'run'}\npipeline:\n{pipeline_yaml}", encoding="utf-8")
    return str(path)


def test_integer_grid_holds_every_value_between_the_sample_extremes():
    param = next(p for p in registry.get("length_filter").params() if p.name == "min_words")
    rows = [{"words": w} for w in (3, 7, 9, 12, 20)]
    assert cal.grid_for(param, 5, rows) == list(range(3, 22))  # 3..20, one past the largest, and the recipe's 5 inside


def test_integer_grid_is_capped_on_a_wide_sample():
    param = next(p for p in registry.get("length_filter").params() if p.name == "min_words")
    rows = [{"words": w} for w in range(0, 5000, 7)]
    grid = cal.grid_for(param, 50, rows)
    assert len(grid) <= cal.MAX_INT_POINTS + 2 and grid[0] == 0 and grid[-1] == 4999 and 50 in grid  # 4998 is the largest


def test_float_grid_is_the_sample_quantiles_of_the_matching_statistic():
    param = next(p for p in registry.get("gopher_repetition").params() if p.name == "top_ngram_char_frac")
    rows = [{"top_4gram_ratio": v} for v in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.05, 0.15)]
    grid = cal.grid_for(param, 0.16, rows, key="4")
    values = sorted(r["top_4gram_ratio"] for r in rows)
    from garden.analysis.stats import quantile

    expected = sorted({round(quantile(values, i / 12), 6) for i in range(13)} | {0.16})
    assert grid == expected


@pytest.mark.slow
def test_dict_valued_threshold_is_targeted_and_written(tmp_path, repetitive):
    recipe = _recipe(tmp_path, [repetitive], "  - gopher_repetition: {}\n")
    out = tmp_path / "calibrated.yaml"
    res = CliRunner().invoke(main, ["analyze", "--recipe", recipe, "-o", str(tmp_path / "a"), "-q",
                                    "--target-drop", "gopher_repetition.top_ngram_char_frac.4=0.4",
                                    "--calibrate", "gopher_repetition.top_ngram_char_frac.4", "--write-recipe", str(out)])
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "a" / "analysis.json").read_text())
    curve = next(c for c in a["calibration"]["curves"] if c["param"] == "top_ngram_char_frac.4")
    assert curve["current"] == 0.16 and curve["suggested"] is not None
    # recount with the operator itself: the written recipe drops what the analysis said
    written = load_recipe(str(out))
    params = written.pipeline[0].params
    assert params["top_ngram_char_frac"] == {2: 0.2, 3: 0.18, 4: curve["suggested"]}
    op = registry.get("gopher_repetition")(**params)
    docs = _docs(repetitive)
    dropped = sum(1 for v in op.keep_batch([dict(d) for d in docs]) if v is not True)
    assert dropped / len(docs) == pytest.approx(curve["suggested_drop"])


@pytest.mark.parametrize("target, message", [
    ("lenght_filter.min_words=0.1", "has no step 'lenght_filter' (did you mean 'length_filter'?)"),
    ("normalize.form=0.1", "'normalize' is a mapper, not a filter"),
    ("length_filter.min_wrds=0.1", "no numeric parameter 'min_wrds' of the filter 'length_filter' (did you mean 'min_words'?)"),
    ("gopher_repetition.top_ngram_char_frac=0.1", "name one, e.g. gopher_repetition.top_ngram_char_frac.2"),
])
@pytest.mark.slow
def test_bad_targets_are_refused_before_sampling(tmp_path, monkeypatch, target, message):
    import garden.analysis.analyze as analyze

    def no_sampling(*args, **kwargs):
        raise AssertionError("the corpus was read before the target was checked")

    monkeypatch.setattr(analyze, "take_sample", no_sampling)
    recipe = _recipe(tmp_path, [EN], "  - normalize: {}\n  - length_filter: {}\n  - gopher_repetition: {}\n")
    res = CliRunner().invoke(main, ["analyze", "--recipe", recipe, "-o", str(tmp_path / "a"), "-q", "--target-drop", target])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_suggestions_are_rounded_without_changing_what_they_drop(tmp_path):
    recipe = _recipe(tmp_path, [EN, ZH], "  - gopher_quality: {}\n")
    a = run_analysis([], str(tmp_path / "a"), recipe_path=recipe, targets=["gopher_quality.max_symbol_word_ratio=0.05"],
                     calibrate_only=["gopher_quality.max_symbol_word_ratio"])
    curve = next(c for c in a["calibration"]["curves"] if c["param"] == "max_symbol_word_ratio")
    value = curve["suggested"]
    assert float(f"{value:.3g}") == value  # three significant digits at most
    cls = registry.get("gopher_quality")
    # as the recipe reads them: the input's own `lang` stays in meta, so no per-language threshold applies
    docs = [{"id": d["id"], "text": d["text"]} for d in _docs(EN) + _docs(ZH)]
    assert cal.drop_share(cls, {"max_symbol_word_ratio": value}, docs) == pytest.approx(curve["suggested_drop"])


def test_rounded_keeps_the_shortest_value_dropping_the_same_documents():
    values = [0.1, 0.2, 0.35, 0.5]
    drop = lambda v: sum(x > v for x in values) / len(values)  # noqa: E731
    assert cal.rounded(0.3712345, False, drop, len(values)) == 0.4  # 0.4 drops the same one document (0.5)
    assert cal.rounded(0.3412345, False, drop, len(values)) == 0.3  # 0.3 drops 2 (0.35, 0.5): within one document
    assert cal.rounded(17, True, drop, 4) == 17


@pytest.mark.slow
def test_write_recipe_keeps_comments_and_style(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""# my web recipe: do not lose this comment
name: cal
inputs:
  - {{path: {EN}, source: en}}   # fortunes
output: {tmp_path / 'run'}
pipeline:
  - normalize: {{}}
  # length first: cheap
  - length_filter:
      min_chars: 50     # was 30 last week
      min_words: 3
""", encoding="utf-8")
    out = tmp_path / "calibrated.yaml"
    res = CliRunner().invoke(main, ["analyze", "--recipe", str(recipe), "-o", str(tmp_path / "a"), "-q",
                                    "--target-drop", "length_filter.min_chars=0.3", "--calibrate", "length_filter.min_chars",
                                    "--write-recipe", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text(encoding="utf-8")
    for kept in ("# my web recipe: do not lose this comment", "# fortunes", "# length first: cheap",
                 "# was 30 last week", f"  - {{path: {EN}, source: en}}", "      min_words: 3"):
        assert kept in text
    suggested = yaml.safe_load(text)["pipeline"][1]["length_filter"]["min_chars"]
    assert suggested != 50 and f"min_chars: {suggested}" in text
    assert recipe.read_text(encoding="utf-8").count("min_chars: 50") == 1  # the input recipe is untouched


@pytest.mark.slow
def test_detect_lang_reports_where_the_input_label_is_wrong(tmp_path):
    mislabelled = tmp_path / "mixed.jsonl"
    with open(mislabelled, "w", encoding="utf-8") as fh:
        for doc in _docs(ZH)[:40]:
            fh.write(json.dumps({"id": doc["id"], "text": doc["text"], "lang": "en"}, ensure_ascii=False) + "\n")
        for doc in _docs(EN)[:40]:
            fh.write(json.dumps({"id": doc["id"], "text": doc["text"], "lang": "en"}, ensure_ascii=False) + "\n")
    plain = run_analysis([str(mislabelled)], str(tmp_path / "a"))
    assert plain["languages"]["counts"] == {"en": 80} and "input_vs_detected" not in plain["languages"]
    res = CliRunner().invoke(main, ["analyze", str(mislabelled), "-o", str(tmp_path / "b"), "--detect-lang"])
    assert res.exit_code == 0, res.output
    a = json.loads((tmp_path / "b" / "analysis.json").read_text())
    vs = a["languages"]["input_vs_detected"]
    pairs = {(p["input"], p["detected"]): p["docs"] for p in vs["pairs"]}
    assert pairs[("en", "zh")] >= 38 and a["languages"]["counts"]["zh"] >= 38
    assert vs["disagree"] == sum(pairs.values()) and vs["docs"] == 80
    assert "language ID disagrees with the input's label" in res.output


@pytest.mark.slow
def test_rule_shares_say_which_rule_drops_what(tmp_path, repetitive):
    recipe = _recipe(tmp_path, [repetitive], "  - gopher_repetition: {}\n  - gopher_quality: {}\n")
    a = run_analysis([], str(tmp_path / "a"), recipe_path=recipe, calibrate_only=["gopher_quality.min_doc_words"])
    rules = {r["op"]: r for r in a["calibration"]["rules"]}
    rep = rules["gopher_repetition"]
    docs = _docs(repetitive)
    verdicts = registry.get("gopher_repetition")().keep_batch([dict(d) for d in docs])
    expected: dict[str, int] = {}
    for v in verdicts:
        if v is not True:
            expected[v] = expected.get(v, 0) + 1
    assert rep["reasons"] == expected and rep["dropped"] == sum(expected.values()) > 0 and rep["docs"] == len(docs)
    # gopher_quality sees the sample as gopher_repetition leaves it: every document, nothing dropped
    assert rules["gopher_quality"]["docs"] == len(docs)
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "Which rule drops what" in html and next(iter(expected)) in html


@pytest.mark.slow
def test_per_language_threshold_is_calibrated_on_that_language(tmp_path):
    """`gopher_quality.min_doc_words.zh`: the curve runs on the Chinese documents only, starts from the
    built-in Chinese value, and the written recipe holds a map by language merged over the table."""
    recipe = _recipe(tmp_path, [EN, ZH], "  - language: {keep: [en, zh]}\n  - gopher_quality: {}\n")
    out = tmp_path / "calibrated.yaml"
    a = run_analysis([], str(tmp_path / "a"), recipe_path=recipe, targets=["gopher_quality.min_doc_words.zh=0.3"],
                     calibrate_only=["gopher_quality.min_doc_words.zh"], write_recipe_path=str(out))
    curve = next(c for c in a["calibration"]["curves"] if c["param"] == "min_doc_words.zh")
    builtin_zh = registry.get("gopher_quality").language_values("min_doc_words", 50).get("zh")
    assert curve["current"] == builtin_zh != 50
    detected = registry.get("language")(keep=["en", "zh"])
    docs = [{"id": d["id"], "text": d["text"]} for d in _docs(EN) + _docs(ZH)]
    detected.keep_batch(docs)
    zh_docs = [d for d in docs if d.get("lang") == "zh"]
    assert curve["docs"] == len(zh_docs) and 90 <= len(zh_docs) <= 110
    written = load_recipe(str(out)).pipeline[1].params["min_doc_words"]
    assert written == {"zh": curve["suggested"]}
    op = registry.get("gopher_quality")(min_doc_words=written)
    dropped = sum(1 for v in op.keep_batch([dict(d) for d in zh_docs]) if v is not True)
    assert dropped / len(zh_docs) == pytest.approx(curve["suggested_drop"])


@pytest.mark.slow
def test_language_key_on_a_single_valued_threshold_is_refused(tmp_path):
    recipe = _recipe(tmp_path, [EN], "  - language: {keep: [en]}\n")
    res = CliRunner().invoke(main, ["analyze", "--recipe", recipe, "-o", str(tmp_path / "a"), "-q",
                                    "--target-drop", "language.min_score.zh=0.1"])
    assert res.exit_code == 2 and "has one value for every language" in res.output
