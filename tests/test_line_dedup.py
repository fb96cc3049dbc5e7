"""line_dedup: boilerplate units found in more than max_docs documents are removed, the rest untouched."""
from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from conftest import run_garden, write_jsonl, write_recipe
from operators.dedup.lines import split_units

BOILER_EN = "Copyright (c) 2024 Example Corp. All rights reserved."
BOILER_ZH = "版权所有，未经许可不得转载。"
RARE = "This line appears in exactly three documents of the corpus."


def corpus() -> list[dict]:
    rows = []
    for i in range(30):
        body = [f"Document {i} talks about topic number {i * 7} in its own words."]
        if i % 2 == 0:
            body.append(BOILER_EN)
            body.append(BOILER_EN)  # repeated inside one page: still one document
        if i % 3 == 0:
            body.append(BOILER_ZH)
        if i < 3:
            body.append(RARE)
        body.append(f"第{i}篇文章的独特内容，编号{i * 13}。")
        rows.append({"id": f"d{i:02d}", "text": "\n".join(body)})
    rows.append({"id": "only-boiler", "text": f"{BOILER_EN}\n{BOILER_ZH}"})
    return rows


def read(out, sub="data"):
    rows = []
    d = os.path.join(out, sub)
    for f in sorted(os.listdir(d)):
        rows += pq.read_table(os.path.join(d, f)).to_pylist()
    return rows


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("linededup")
    inp = write_jsonl(tmp / "in.jsonl", corpus())
    recipe = write_recipe(tmp, [{"line_dedup": {"max_docs": 5}}], [{"path": inp, "source": "s"}],
                          workers=2, shard_size="4KB")
    run_garden("run", recipe)
    return tmp / "out"


@pytest.mark.slow
def test_boilerplate_removed_rare_and_unique_lines_kept(result):
    docs = {d["id"]: d for d in read(result)}
    original = {r["id"]: r for r in corpus()}
    assert len(docs) == 30
    for i in range(30):
        doc = docs[f"d{i:02d}"]
        assert BOILER_EN not in doc["text"] and BOILER_ZH not in doc["text"]
        assert f"topic number {i * 7}" in doc["text"] and f"编号{i * 13}" in doc["text"]
        assert (RARE in doc["text"]) == (i < 3)
        expected = 2 * (i % 2 == 0) + (i % 3 == 0)
        assert doc["removed_lines"] == expected
        kept_lines = [ln for ln in original[doc["id"]]["text"].split("\n") if ln not in (BOILER_EN, BOILER_ZH)]
        assert doc["text"] == "\n".join(kept_lines)


@pytest.mark.slow
def test_document_of_only_boilerplate_is_dropped_with_reason(result):
    rejected = read(result, "rejected/line_dedup")
    assert [r["id"] for r in rejected] == ["only-boiler"]
    assert rejected[0]["reason"] == "line_dedup:empty_after_removal"


@pytest.mark.slow
def test_stats_count_frequent_units(result):
    import json

    stats = json.loads((result / "stats.json").read_text())
    op = stats["ops"][0]
    assert op["frequent_units"] == 2  # the English and the Chinese notice; RARE is in 3 ≤ 5 docs
    assert op["max_docs_of_a_unit"] == 16
    assert stats["accounting_ok"]


@pytest.mark.slow
def test_paragraph_mode_and_sentence_spans(tmp_path):
    para = "Subscribe to our newsletter for weekly updates.\nUnsubscribe at any time."
    rows = [{"id": f"p{i}", "text": f"Unique opening paragraph {i}.\n\n{para}\n\nClosing words {i}."} for i in range(4)]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    recipe = write_recipe(tmp_path, [{"line_dedup": {"unit": "paragraph", "max_docs": 2}}], [{"path": inp, "source": "s"}])
    run_garden("run", recipe)
    docs = read(tmp_path / "out")
    assert [d["text"] for d in docs] == [f"Unique opening paragraph {i}.\n\nClosing words {i}." for i in range(4)]
    assert all(d["removed_lines"] == 1 for d in docs)


def test_split_units_round_trip_and_c4_spans():
    texts = ["One. Two! Three? Four. Five.\nSix.", "第一句。第二句！第三句？第四句。", "a\n\n\nb\n", ""]
    for text in texts:
        for unit in ("line", "paragraph", "sentences3"):
            assert "".join(u + s for u, s in split_units(text, unit)) == text
    assert [u for u, _ in split_units(texts[0], "sentences3")] == ["One. Two! Three?", "Four. Five.", "Six."]
    assert [u for u, _ in split_units(texts[1], "sentences3")] == ["第一句。第二句！第三句？", "第四句。"]
