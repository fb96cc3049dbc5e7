"""zh_convert: Traditional <-> Simplified with OpenCC on real handbook paragraphs; only Chinese
documents change (by `lang`, or by script when there is no `lang`)."""
from __future__ import annotations

import json
import os

import pytest

from garden.script import HANS_ONLY, HANT_ONLY, han_variant
from operators.lang.zh_convert import ZhConvert

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "lang")


def _paragraphs(script: str) -> list[str]:
    with open(os.path.join(FIXTURES, "zh_script_paragraphs.jsonl"), encoding="utf-8") as fh:
        return [row["text"] for row in map(json.loads, fh) if row["script"] == script]


def _op(**params) -> ZhConvert:
    defaults = {p.name: p.default for p in ZhConvert.params()}
    ZhConvert.check_params({**defaults, **params})
    return ZhConvert(**{**defaults, **params})


def _convert(op: ZhConvert, text: str, **columns) -> dict:
    return op.map_batch([{"id": "d", "text": text, "source": "s", **columns}])[0]


def test_traditional_handbook_paragraphs_to_simplified_and_back():
    to_hans, to_tw = _op(to="hans"), _op(to="tw")
    for text in _paragraphs("Hant"):
        doc = _convert(to_hans, text, lang="zh", script="Hant")
        assert doc["zh_converted"] is True and doc["script"] == "Hans"
        assert not set(doc["text"]) & set(HANT_ONLY) and len(doc["text"]) == len(text)
        back = _convert(to_tw, doc["text"], lang="zh")["text"]
        assert han_variant(back) == "Hant"
        # not a lossless round trip (several traditional characters share one simplified form),
        # but nearly: at most a few characters in a hundred differ
        assert sum(a != b for a, b in zip(back, text)) <= max(2, len(text) // 30), (text, back)
    for text in _paragraphs("Hans"):
        doc = _convert(to_tw, text, lang="zh", script="Hans")
        assert doc["zh_converted"] is True and doc["script"] == "Hant" and not set(doc["text"]) & set(HANS_ONLY)


def test_phrase_level_conversion_and_regional_forms():
    text = "我的头发在里面，发现软件和鼠标。"
    assert _convert(_op(to="hant"), text, lang="zh")["text"] == "我的頭髮在裏面，發現軟件和鼠標。"
    assert _convert(_op(to="tw"), text, lang="zh")["text"] == "我的頭髮在裡面，發現軟件和鼠標。"
    assert _convert(_op(to="tw", phrases=True), text, lang="zh")["text"] == "我的頭髮在裡面，發現軟體和滑鼠。"
    assert _convert(_op(to="hans", phrases=True), "發現軟體和滑鼠", lang="zh")["text"] == "发现软件和鼠标"
    with pytest.raises(ValueError, match="phrases: true needs to: tw or to: hans"):
        _op(to="hk", phrases=True)


def test_already_simplified_text_is_unchanged_and_counted_as_not_converted():
    text = _paragraphs("Hans")[0]
    doc = _convert(_op(to="hans"), text, lang="zh", script="Hans")
    assert doc["text"] == text and doc["zh_converted"] is False and doc["script"] == "Hans"


def test_non_chinese_documents_are_never_converted():
    op = _op(to="hans")
    ja = "これは日本語の文章です。東京は日本の首都です。語彙と國語"  # OpenCC would turn 語 into 语
    en = "Debian is a free operating system."
    for text, lang in ((ja, "ja"), (en, "en"), ("", "und")):
        doc = _convert(op, text, lang=lang, script=None)
        assert doc["text"] == text and doc["zh_converted"] is None and doc["script"] is None
    # a document labelled zh is converted even if it holds some kana (lang decides when it is there)
    assert _convert(op, "開發者「テスト」說明", lang="zh")["text"] == "开发者「テスト」说明"


def test_without_a_lang_column_han_script_text_is_converted_kana_and_hangul_text_is_not():
    op = _op(to="hans")
    hant = _paragraphs("Hant")[0]
    doc = _convert(op, hant)
    assert doc["zh_converted"] is True and han_variant(doc["text"]) == "Hans" and "script" not in doc
    for text in ("以下に例を示します。語彙", "데비안 계열의 설치부터 서비스 구성에 대해서 알아보는 참고서.",
                 "Debian is a free operating system.", ""):
        doc = _convert(op, text)
        assert doc["text"] == text and doc["zh_converted"] is None
