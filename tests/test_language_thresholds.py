"""Per-language thresholds: every heuristic filter reads `lang`, Garden's built-in table, maps by
language in a recipe, and the Chinese demo recipe (real zh/ja/ko/en/de/ru/fr text from
tests/fixtures/languages, origins in its README)."""
from __future__ import annotations

import glob
import json
import os

import pyarrow.parquet as pq
import pytest
import yaml

from garden import registry
from garden.languages import LANGUAGE_CODES, document_language, language_key
from garden.recipe import RecipeError, load_recipe
from operators.quality.gopher import shipped_stop_words
from tests.conftest import REPO, run_garden

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "languages")
HEURISTICS = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "line_filter", "length_filter")
CHAIN = ("line_filter", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")


def load(lang: str) -> list[dict]:
    with open(os.path.join(FIXTURES, f"{lang}_paragraphs.jsonl"), encoding="utf-8") as fh:
        return [{"id": d["id"], "text": d["text"], "source": "s", "meta": "{}", "lang": d["lang"]}
                for d in map(json.loads, fh)]


def without_lang(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "lang"}


def verdict(name: str, doc: dict, **params):
    op = registry.get(name)(**params)
    doc = dict(doc)
    if op.kind == "mapper":
        before = doc["text"]
        return op.map(doc)["text"] if before else ""
    return op.keep(doc)


def chain(doc: dict):
    doc = dict(doc)
    for name in CHAIN:
        op = registry.get(name)()
        if op.kind == "mapper":
            doc = op.map(doc)
        elif (v := op.keep(doc)) is not True:
            return f"{name}:{v}"
    return True


ALL_DOCS = [d for lang in ("zh", "ja", "ko", "en", "de", "ru", "fr") for d in load(lang)]


# ---------------- no `lang`: exactly the published defaults ----------------
@pytest.mark.parametrize("name", HEURISTICS)
def test_without_lang_every_filter_decides_as_with_no_table(name, monkeypatch):
    """A document without `lang` gets the `default` values: the same decisions (and rewritten text) as an
    operator with no per-language table at all, on Chinese, Japanese, Korean and European text."""
    cls = registry.get(name)
    assert cls.per_language, f"{name} declares no per-language parameters"
    params = {"min_words": 50, "max_chars": 2000} if name == "length_filter" else {}
    with_table = [verdict(name, without_lang(d), **params) for d in ALL_DOCS]
    monkeypatch.setattr(cls, "per_language", {p: {} for p in cls.per_language})
    plain = [verdict(name, without_lang(d), **params) for d in ALL_DOCS]
    assert with_table == plain


def test_english_with_lang_gets_the_published_values():
    """`en` never falls to the Latn group: every built-in `en` value is the class default."""
    for name in HEURISTICS:
        cls = registry.get(name)
        for param, by_lang in cls.per_language.items():
            if "en" in by_lang:
                assert by_lang["en"] == getattr(cls, param), (name, param)
            elif "Latn" in by_lang:
                pytest.fail(f"{name}.{param}: a Latn value without an en entry would change English")
    for doc in load("en"):
        assert chain(doc) == chain(without_lang(doc))


# ---------------- the built-in table at work on real text ----------------
def test_chinese_paragraphs_kept_with_lang_and_corrupted_ones_dropped():
    zh = load("zh")
    kept = [chain(d) for d in zh]
    assert kept.count(True) >= len(zh) - 2, kept
    # without `lang` (the English defaults) C4's 5 sentences drop most paragraph-sized Chinese text
    before = [chain(without_lang(d)) for d in zh]
    assert before.count("c4_quality:too_few_sentences") >= len(zh) // 3
    for d in zh:
        repeated = "\n".join(line for line in d["text"].split("\n") for _ in range(2))
        assert chain({**d, "text": repeated}) is not True
        short = "\n".join(d["text"][i:i + 9].strip("，。、；：！？（）") for i in range(0, len(d["text"]), 9))
        assert chain({**d, "text": short}) is not True


def test_japanese_and_korean_use_their_own_values():
    ja, ko = load("ja"), load("ko")
    assert sum(chain(d) is True for d in ja) >= len(ja) - 3
    # a Japanese text of 100 characters is ~36 English words: too short for Gopher's 50 with lang: ja ...
    short_ja = {**ja[0], "text": ja[0]["text"][:100]}
    assert verdict("gopher_quality", short_ja) == "min_doc_words"
    # ... and long enough without it (characters count as words, the English 50)
    assert verdict("gopher_quality", without_lang(short_ja)) is True
    assert registry.get("gopher_quality")().threshold("min_doc_words", ko[0]) == 105
    assert all(verdict("gopher_repetition", d) is True for d in ko)


def test_script_groups_and_language_codes():
    op = registry.get("gopher_repetition")()
    assert op.threshold("dup_line_frac", {"lang": "pt"}) == 0.292           # Latn group
    assert op.threshold("dup_line_frac", {"lang": "uk"}) == 0.3             # Cyrl group
    assert op.threshold("dup_line_frac", {"lang": "zh-Hant"}) == 0.287      # BCP-47 reduced
    assert op.threshold("dup_line_frac", {"lang": "yue"}) == 0.287          # as `language` writes it: zh
    assert op.threshold("dup_line_frac", {"lang": "und"}) == 0.3            # undetermined: default
    assert op.threshold("dup_line_frac", {"lang": "th"}) == 0.3             # no entry, no group: default
    assert op.threshold("dup_line_frac", {"text": "x"}) == 0.3              # no column: default
    assert document_language({"lang": None}) == ""


# ---------------- stop words ----------------
def test_stop_words_per_language_from_the_shipped_lists():
    lists = shipped_stop_words()
    with open(os.path.join(REPO, "operators", "quality", "stopwords.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    assert "Apache-2.0" in meta["_origin"] and "fineweb-2" in meta["_origin"]
    # the languages of the demo corpus, these fixtures and the language-ID fixture all have a list
    # (English: Gopher's, a parameter)
    for lang in ("zh", "ja", "ko", "de", "ru", "fr", "es", "it", "pt", "nb", "cs", "pl", "id", "ca", "ar", "fa"):
        assert len(lists[lang]) >= 8, lang
    assert set(lists) <= LANGUAGE_CODES
    gq = registry.get("gopher_quality")
    for lang in ("zh", "ja", "ko", "de", "ru", "fr"):
        assert all(verdict("gopher_quality", d) != "stop_words" for d in load(lang)), lang
    # Chinese text with no stop word of the list: a character list, no 的/是/在/了 ...
    names = "、".join(["北京上海广州深圳", "杭州南京苏州成都", "重庆武汉西安长沙"] * 4) + "。"
    assert gq().keep({"text": names, "lang": "zh"}) == "stop_words"
    assert gq().keep({"text": names, "lang": "zh"}) != gq().keep({"text": names + "这是我们的城市。", "lang": "zh"})
    # French elisions: "l'" and "d'" are glued to the next word
    fr = " ".join(["l'ordinateur d'Alice"] * 30)
    assert gq(min_doc_words=5).keep({"text": fr, "lang": "fr"}) is True


# ---------------- maps by language in a recipe ----------------
def write_recipe(tmp_path, step: dict, name: str = "r.yaml", language: bool = True) -> str:
    """A recipe with `step`, after a `language` step (annotate only) unless language=False."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "x"}\n', encoding="utf-8")
    path = tmp_path / name
    steps = [{"language": {"keep": []}}, step] if language else [step]
    path.write_text(yaml.safe_dump({"name": "t", "inputs": [{"path": str(data)}], "output": str(tmp_path / "out"),
                                    "pipeline": steps}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def test_recipe_map_is_merged_over_the_built_in_values(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, {"gopher_quality": {"min_doc_words": {"zh-CN": 80, "default": 40}}}))
    params = recipe.pipeline[1].params
    assert params["min_doc_words"] == {"zh": 80, "default": 40}
    op = recipe.pipeline[1].build()
    assert op.threshold("min_doc_words", {"lang": "zh"}) == 80
    assert op.threshold("min_doc_words", {"lang": "ja"}) == 140     # built-in value kept
    assert op.threshold("min_doc_words", {"lang": "de"}) == 40      # no entry: the map's default
    assert op.threshold("min_doc_words", {"text": ""}) == 40
    zh = load("zh")[0]  # ~200 characters
    assert op.keep({**zh, "text": zh["text"][:75]}) == "min_doc_words"
    assert op.keep(without_lang({**zh, "text": zh["text"][:75]})) is True


def test_single_value_applies_to_every_language_and_default_keeps_the_table():
    gr = registry.get("gopher_repetition")
    assert gr(dup_line_frac=0.5).threshold("dup_line_frac", {"lang": "zh"}) == 0.5
    assert gr(dup_line_frac=None).threshold("dup_line_frac", {"lang": "ko"}) is None
    assert gr(dup_line_frac=0.3).threshold("dup_line_frac", {"lang": "zh"}) == 0.287   # the default value: the table
    grams = gr(top_ngram_char_frac={2: 0.5})
    assert grams.threshold("top_ngram_char_frac", {"lang": "zh"}) == {2: 0.5}
    by_lang = gr(top_ngram_char_frac={"zh": {2: 0.5}})
    assert by_lang.threshold("top_ngram_char_frac", {"lang": "zh"}) == {2: 0.5}
    assert by_lang.threshold("top_ngram_char_frac", {"lang": "en"}) == {2: 0.2, 3: 0.18, 4: 0.16}
    lf = registry.get("length_filter")(min_chars={"zh": 100, "default": 300})
    text = "这是一个足够长的中文句子。" * 10  # 130 characters
    assert lf.keep({"text": text, "lang": "zh"}) is True and lf.keep({"text": text}) == "min_chars"


@pytest.mark.parametrize("params,message", [
    ({"min_doc_words": {"chinese": 80}}, "'chinese' is not a language code (did you mean 'zh'?)"),
    ({"min_doc_words": {"zh": "many"}}, "gopher_quality.min_doc_words.zh: expected int | null, got 'many'"),
    ({"min_doc_words": {"zh": -1}}, "min_doc_words must be >= 0, got -1"),
    ({"min_doc_words": {"zh": 80, "zh-CN": 90}}, "'zh-CN' is given twice (as zh)"),
    ({"min_doc_words": {"ja": 300000}}, "min_doc_words (300000) is greater than max_doc_words (280000) for ja"),
    ({"max_doc_words": {"de": 10}}, "min_doc_words (50) is greater than max_doc_words (10) for de"),
    ({"min_alpha_words_ratio": {"Latn": 1.5}}, "min_alpha_words_ratio must be between 0 and 1, got 1.5"),
])
def test_recipe_map_errors_name_file_and_line(tmp_path, params, message):
    path = write_recipe(tmp_path, {"gopher_quality": params})
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    text = str(err.value)
    assert message in text and f"{path}:" in text and "\n" not in text, text


def test_map_by_language_needs_a_language_step_before_it(tmp_path):
    step = {"c4_quality": {"min_num_sentences": {"zh": 2, "default": 5}}}
    path = write_recipe(tmp_path, step, language=False)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert f"{path}:" in str(err.value) and "min_num_sentences gives values for zh, but no step before it sets `lang`: " \
        "put `language` earlier in the pipeline" in str(err.value)
    only_default = write_recipe(tmp_path, {"c4_quality": {"min_num_sentences": {"default": 4}}}, "r2.yaml", language=False)
    assert load_recipe(only_default).pipeline[0].params["min_num_sentences"] == {"default": 4}
    assert load_recipe(write_recipe(tmp_path, step, "r3.yaml")).pipeline[1].params["min_num_sentences"] == \
        {"zh": 2, "default": 5}


def test_repetition_map_of_ngram_maps_is_checked(tmp_path):
    with pytest.raises(RecipeError, match="top_ngram_char_frac must be between 0 and 1, got 2"):
        load_recipe(write_recipe(tmp_path, {"gopher_repetition": {"top_ngram_char_frac": {"zh": {2: 2}}}}))
    with pytest.raises(RecipeError, match="n-gram sizes must be >= 1"):
        load_recipe(write_recipe(tmp_path, {"gopher_repetition": {"top_ngram_char_frac": {"ko": {0: 0.2}}}}))


def test_language_keys():
    assert language_key("ZH_cn") == "zh" and language_key("latn") == "Latn" and language_key("Default") == "default"
    with pytest.raises(ValueError, match="did you mean 'Cyrl'"):
        language_key("cyrillic")


@pytest.mark.slow
def test_ops_lists_the_built_in_values():
    out = run_garden("ops", "gopher_quality").stdout
    assert "min_doc_words: int | null = 50, by language {zh: 70, ja: 140, ko: 105}" in out
    assert "min_chars: int = 0, or a map by language" in run_garden("ops", "length_filter").stdout


# ---------------- the Chinese demo recipe, through the CLI ----------------
@pytest.mark.slow
def test_demo_zh_recipe_keeps_clean_paragraphs_and_drops_corrupted(tmp_path):
    out = tmp_path / "out"
    run_garden("run", os.path.join(REPO, "recipes", "demo-zh.yaml"), "--output", out, cwd=REPO, timeout=600)
    kept = pq.read_table(glob.glob(str(out / "data" / "*.parquet"))).to_pylist()
    rejected = [r for f in glob.glob(str(out / "rejected" / "*" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    by_source = {s: [r for r in kept if r["source"] == s] for s in ("clean", "corrupted")}
    assert all(r["lang"] == "zh" for r in kept)
    assert by_source["corrupted"] == []
    # clean paragraphs: 236 distinct (10 exact copies go to exact_dedup); the filters keep >= 85 %
    filtered = [r for r in rejected if r["source"] == "clean" and not r["reason"].startswith(("exact_dedup", "minhash"))]
    copies = [r for r in rejected if r["source"] == "clean" and r["reason"].startswith("exact_dedup")]
    assert len(copies) >= 10
    assert len(filtered) <= 0.15 * 236, sorted(r["reason"] for r in filtered)
    assert len(by_source["clean"]) >= 200
    assert os.path.exists(out / "tokenizer" / "tokenizer.json")
