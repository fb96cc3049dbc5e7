"""The everyday operators, on real text and edge cases, and through a recipe."""
import json

import pytest

from conftest import read_data, read_stats, run_garden, write_jsonl, write_recipe
from operators.clean.basic import FieldFilter, LengthFilter, Normalize, Sample


def doc(text, **meta):
    return {"id": "d", "text": text, "source": "s", "meta": json.dumps(meta)}


def test_length_filter_counts_cjk_characters_as_words():
    f = LengthFilter(min_words=8)
    assert f.keep(doc("春眠不觉晓，处处闻啼鸟。")) is True          # 10 Han characters = 10 words
    assert f.keep(doc("Spring sleep, dawn unnoticed.")) == "min_words"  # 4 words
    assert LengthFilter(max_chars=5).keep(doc("abcdef")) == "max_chars"
    assert LengthFilter(min_lines=2).keep(doc("one line")) == "min_lines"
    assert LengthFilter(min_chars=1).keep(doc("")) == "min_chars"


def test_normalize_forms_controls_whitespace_and_mojibake():
    n = Normalize(form="NFKC")
    out = n.map(doc("ＡＢＣ１２３\u00a0ﬁne\x00\x07  text\u200b\r\n\r\n\r\n\r\nnext\t\tline  "))["text"]
    assert out == "ABC123 fine text\n\nnext line"
    broken = "café déjà vu – “quoted”".encode("utf-8").decode("latin-1")
    assert Normalize().map(doc(broken))["text"] == "café déjà vu – “quoted”"
    # text that only looks like mojibake is left alone
    assert Normalize().map(doc("Ã is a letter in Portuguese: SÃO PAULO"))["text"] == "Ã is a letter in Portuguese: SÃO PAULO"
    assert Normalize(form="none", whitespace=False, remove_control=False, fix_mojibake=False).map(
        doc(" a\x01 ")) ["text"] == " a\x01 "
    # Chinese text and emoji survive NFC untouched
    assert Normalize().map(doc("中文 👍🏽 text"))["text"] == "中文 👍🏽 text"


@pytest.mark.slow
def test_sample_is_deterministic_and_close_to_the_fraction():
    s = Sample(fraction=0.3, seed=7)
    docs = [{**doc("x"), "id": f"doc-{i}"} for i in range(5000)]
    kept = [d["id"] for d in docs if s.keep(d) is True]
    assert 0.27 < len(kept) / 5000 < 0.33
    assert kept == [d["id"] for d in docs if Sample(fraction=0.3, seed=7).keep(d) is True]
    assert kept != [d["id"] for d in docs if Sample(fraction=0.3, seed=8).keep(d) is True]


def test_field_filter_meta_paths_regex_and_missing():
    keep_en = FieldFilter(field="warc.lang", values=["en"])
    assert keep_en.keep(doc("t", warc={"lang": "en"})) is True
    assert keep_en.keep(doc("t", warc={"lang": "de"})) == "no_match:warc.lang"
    assert keep_en.keep(doc("t")) == "missing:warc.lang"
    drop_ads = FieldFilter(field="url", regex=r"^https?://[^/]*ads\.", mode="drop", missing="keep")
    assert drop_ads.keep(doc("t", url="https://ads.example.com/x")) == "match:url"
    assert drop_ads.keep(doc("t", url="https://example.com/x")) is True
    assert drop_ads.keep(doc("t")) is True
    assert FieldFilter(field="source", values=["s"]).keep(doc("t")) is True  # a column, not meta


@pytest.mark.slow
def test_field_filter_and_sample_from_a_recipe(tmp_path):
    rows = [{"id": str(i), "text": f"document {i}", "license": "cc-by" if i % 3 else "proprietary"} for i in range(600)]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"field_filter": {"field": "license", "values": ["proprietary"], "mode": "drop"}},
                                     {"sample": {"fraction": 0.5, "seed": 1}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe, "-q")
    stats = read_stats(tmp_path / "out")
    assert stats["ops"][0]["dropped"] == {"field_filter:match:license": 200}
    kept = read_data(tmp_path / "out")
    assert all(json.loads(r["meta"])["license"] == "cc-by" for r in kept)
    assert 160 < len(kept) < 240 and stats["accounting_ok"]


@pytest.mark.parametrize("bad", [{"fraction": -0.1}, {"fraction": 2}])
@pytest.mark.slow
def test_sample_fraction_is_validated(tmp_path, bad):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    proc = run_garden("validate", write_recipe(tmp_path, [{"sample": bad}], [{"path": inp, "source": "s"}]), check=False)
    assert proc.returncode == 2 and "fraction must be between 0 and 1" in proc.stderr


@pytest.mark.slow
def test_a_step_can_be_scoped_to_some_sources(tmp_path):
    html = write_jsonl(tmp_path / "web.jsonl", [{"id": f"w{i}", "text": "tiny"} for i in range(5)])
    prose = write_jsonl(tmp_path / "books.jsonl", [{"id": f"b{i}", "text": "tiny"} for i in range(5)])
    recipe = write_recipe(tmp_path, [{"length_filter": {"min_chars": 10}, "sources": ["web"]},
                                     {"normalize": {"form": "NFKC"}}],
                          [{"path": html, "source": "web"}, {"path": prose, "source": "books"}])
    run_garden("run", recipe, "-q")
    stats = read_stats(tmp_path / "out")
    assert stats["ops"][0]["in"] == 5 and stats["ops"][0]["dropped"] == {"length_filter:min_chars": 5}
    assert sorted(r["id"] for r in read_data(tmp_path / "out")) == [f"b{i}" for i in range(5)]
    assert stats["accounting_ok"]
    bad = write_recipe(tmp_path, [{"length_filter": {}, "sources": ["wbe"]}], [{"path": html, "source": "web"}])
    proc = run_garden("validate", bad, check=False)
    assert proc.returncode == 2 and "unknown source 'wbe' (did you mean 'web'?)" in proc.stderr
