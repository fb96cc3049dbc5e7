"""`garden analyze` end to end: totals, languages, near-duplicates, tokens, calibration, run outputs."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml
from click.testing import CliRunner

from garden.analysis.analyze import run_analysis
from garden.cli import main
from garden.recipe import load_recipe

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "analysis")
EN = os.path.join(FIX, "en_fortunes_150.jsonl")
ZH = os.path.join(FIX, "zh_fortunes_100.jsonl")


def _docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """EN + ZH fixtures, plus a third file holding exact copies of 10 English documents and a broken line."""
    d = tmp_path_factory.mktemp("corpus")
    shutil.copy(EN, d / "en.jsonl")
    shutil.copy(ZH, d / "zh.jsonl")
    en = _docs(EN)
    with open(d / "copies.jsonl", "w", encoding="utf-8") as fh:
        for doc in en[20:30]:
            fh.write(json.dumps({**doc, "id": doc["id"] + "#copy"}, ensure_ascii=False) + "\n")
        fh.write('{"id": "broken", "text": \n')
    return {"dir": str(d), "files": [str(d / f) for f in ("en.jsonl", "zh.jsonl", "copies.jsonl")]}


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([d["text"] for d in _docs(EN) + _docs(ZH)],
                            trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    tok.save(path)
    return path


@pytest.fixture(scope="module")
def full(corpus, tokenizer_path, tmp_path_factory) -> tuple[dict, str]:
    out = str(tmp_path_factory.mktemp("analysis"))
    return run_analysis(corpus["files"], out, sample_size=1000, tokenizer=tokenizer_path), out


def test_totals_sources_and_languages(full):
    a, out = full
    assert a["totals"]["docs"] == 260 and a["sample"]["docs"] == 260 and a["sample"]["fraction"] == 1
    assert a["totals"]["quarantined"] == 1
    assert a["totals"]["sources"]["en"]["docs"] == 150 and a["totals"]["sources"]["zh"]["docs"] == 100
    assert a["languages"]["counts"] == {"en": 160, "zh": 100}  # the input's lang field
    # not measured where most words are CJK characters: only the two zh fortunes that are mostly shell code have one
    assert a["by_language"]["zh"]["stats"]["mean_word_len"]["count"] == 2
    assert a["by_language"]["en"]["stats"]["mean_word_len"]["median"] > 3
    assert a["by_language"]["zh"]["stats"]["sentences"]["median"] >= 1
    assert os.path.exists(os.path.join(out, "report.html")) and os.path.exists(os.path.join(out, "sample_stats.parquet"))
    assert json.load(open(os.path.join(out, "analysis.json"), encoding="utf-8"))["totals"]["docs"] == 260


def test_near_duplicates_found(full):
    near = full[0]["near_duplicates"]
    assert near["clusters"] >= 10 and near["docs_in_clusters"] >= 20
    assert near["sample_drop_rate"] == pytest.approx((near["docs_in_clusters"] - near["clusters"]) / 260)
    pairs = [sorted(c) for c in near["example_clusters"] if any(i.endswith("#copy") for i in c)]
    assert len(pairs) == 10 and all(c[1] == c[0] + "#copy" for c in pairs)


def test_token_counts_match_the_tokenizer(full, corpus, tokenizer_path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    expected = sum(len(tok.encode(d["text"], add_special_tokens=False).ids) for d in _docs(ZH))
    assert full[0]["tokens"]["by_source"]["zh"]["sample_tokens"] == expected


def test_tail_examples_are_the_extremes(full):
    a = full[0]
    shortest = a["examples"]["chars"]["low"][0]
    assert shortest in ("fortunes/art/31",)  # "Alex Haley was adopted!": 23 characters, the shortest
    assert a["stats"]["chars"]["min"] == 23


@pytest.mark.slow
def test_workers_give_the_same_analysis(corpus, tmp_path, full):
    a2 = run_analysis(corpus["files"], str(tmp_path / "w2"), sample_size=100, workers=2)
    a1 = run_analysis(corpus["files"], str(tmp_path / "w1"), sample_size=100, workers=1)
    assert a1["examples"] == a2["examples"] and a1["stats"] == a2["stats"]
    assert a1["sample"]["docs"] == 100 and a1["totals"]["docs"] == 260


def test_language_operator_or_clear_note(tmp_path):
    """Input without a lang field: the `language` operator labels it when available, else a note says why."""
    path = tmp_path / "nolang.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for d in _docs(EN)[:30] + _docs(ZH)[:30]:
            fh.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    a = run_analysis([str(path)], str(tmp_path / "out"), sample_size=100)
    counts = a["languages"]["counts"]
    if "language" in a["notes"]:
        assert counts == {"unknown": 60}
    else:
        assert a["languages"]["label_from"] == {"language operator": 60}
        assert counts.get("zh", 0) >= 27 and counts.get("en", 0) >= 25


@pytest.mark.slow
def test_calibration_and_written_recipe(corpus, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "cal", "inputs": [{"path": corpus["files"][0], "source": "en"}, {"path": corpus["files"][1], "source": "zh"}],
        "output": str(tmp_path / "run"),
        "pipeline": [{"normalize": {}}, {"length_filter": {"min_chars": 50, "min_words": 3}}]}))
    out_recipe = tmp_path / "r.calibrated.yaml"
    result = CliRunner().invoke(main, ["analyze", "--recipe", str(recipe), "--out", str(tmp_path / "a"), "-q",
                                       "--target-drop", "length_filter.min_chars=0.25",
                                       "--write-recipe", str(out_recipe)])
    assert result.exit_code == 0, result.output
    a = json.load(open(tmp_path / "a" / "analysis.json", encoding="utf-8"))
    curves = {c["param"]: c for c in a["calibration"]["curves"]}
    assert set(curves) == {"min_chars", "max_chars", "min_words", "max_words", "min_lines", "max_lines"}
    mc = curves["min_chars"]
    drops = [d for d in mc["drop"] if d is not None]
    assert drops == sorted(drops) and drops[-1] > 0.9
    # recount by hand what the suggested threshold drops: normalised texts shorter than it, or < 3 words
    from garden.text import clean_whitespace, count_words
    import unicodedata

    texts = [clean_whitespace(unicodedata.normalize("NFC", d["text"])) for d in _docs(EN) + _docs(ZH)]
    dropped = sum(1 for t in texts if len(t) < mc["suggested"] or count_words(t) < 3)
    assert mc["suggested_drop"] == pytest.approx(dropped / 250)
    assert abs(mc["suggested_drop"] - 0.25) < 0.03 and mc["reachable"]
    text = out_recipe.read_text(encoding="utf-8")
    assert text.startswith("# Thresholds calibrated by `garden analyze`") and "# Sample: 250 of 250 documents" in text
    new = load_recipe(str(out_recipe))
    assert new.pipeline[1].params["min_chars"] == mc["suggested"] and new.pipeline[1].params["min_words"] == 3


@pytest.mark.slow
def test_bad_target_is_a_clear_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "inputs": [{"path": EN, "source": "en"}], "output": str(tmp_path / "o"),
                                      "pipeline": [{"length_filter": {}}]}))
    result = CliRunner().invoke(main, ["analyze", "--recipe", str(recipe), "--out", str(tmp_path / "a"), "-q",
                                       "--target-drop", "length_filter.min_chairs=0.1"])
    assert result.exit_code == 2 and "no numeric parameter 'min_chairs'" in result.output


@pytest.mark.slow  # a (small) pipeline run
def test_analyze_a_run_output(corpus, tmp_path):
    from garden.api import run_recipe
    from garden.recipe import recipe_from_dict

    recipe = recipe_from_dict({"name": "r", "inputs": [{"path": corpus["files"][0], "source": "web-en"},
                                                       {"path": corpus["files"][1], "source": "web-zh"}],
                               "output": str(tmp_path / "run"), "workers": 1,
                               "pipeline": [{"length_filter": {"min_chars": 100}}]})
    stats = run_recipe(recipe)
    a = run_analysis([str(tmp_path / "run")], str(tmp_path / "a"), sample_size=1000)
    assert a["totals"]["docs"] == stats["kept_docs"]
    assert set(a["totals"]["sources"]) == {"web-en", "web-zh"}
    assert a["stats"]["chars"]["min"] >= 100


def test_pii_counts_or_clear_note(tmp_path):
    """PII is counted by the `pii` operator when it is installed; otherwise a note says it was skipped."""
    path = tmp_path / "pii.jsonl"
    docs = _docs(EN)[:20] + [{"id": "p1", "text": "Write to jane.roe@example.org about the release."},
                             {"id": "p2", "text": "联系邮箱 wang.wei@example.cn，电话 13812345678。"}]
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d["id"], "text": d["text"], "lang": "en"}, ensure_ascii=False) + "\n")
    a = run_analysis([str(path)], str(tmp_path / "out"), sample_size=100)
    if "pii" in a["notes"]:
        assert a["pii"] is None
    else:
        assert a["pii"]["docs"] == 22 and a["pii"]["docs_with_pii"] >= 2
        assert a["pii"]["kinds"].get("email", 0) >= 2


def test_raw_parquet_and_zstd_inputs(tmp_path):
    """Raw parquet (no Garden columns) and .jsonl.zst read through garden.io like a recipe's inputs."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    en, zh = _docs(EN), _docs(ZH)
    pq.write_table(pa.Table.from_pylist([{"id": d["id"], "text": d["text"], "lang": d["lang"]} for d in en]),
                   tmp_path / "en.parquet")
    raw = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in zh).encode()
    (tmp_path / "zh.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    a = run_analysis([str(tmp_path / "*.parquet"), str(tmp_path / "zh.jsonl.zst")], str(tmp_path / "out"), sample_size=50)
    assert {s: v["docs"] for s, v in a["totals"]["sources"].items()} == {"en": 150, "zh": 100}
    assert a["sample"]["docs"] == 50 and a["languages"]["label_from"] == {"meta": 50}


@pytest.mark.slow
def test_analysis_and_report_do_not_import_torch(tmp_path):
    """The data side must stay light: no torch, megatron or matplotlib in analyze or the run report."""
    import subprocess
    import sys

    code = ("import sys\nfrom garden.analysis.analyze import run_analysis\nfrom garden.run_report import render_run_report\n"
            f"run_analysis([{EN!r}], {str(tmp_path / 'a')!r}, sample_size=20)\n"
            "print(sorted(m for m in ('torch', 'megatron', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
