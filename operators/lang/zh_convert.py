"""Traditional <-> Simplified Chinese conversion with OpenCC (its dictionaries ship in the wheel).

A mapper: it rewrites `text` of Chinese documents into one written form, so a corpus that mixes
zh-CN and zh-TW sources trains one vocabulary (YuLan-GARDEN converts to Simplified the same way).
OpenCC converts phrase by phrase, not character by character (头发 → 頭髮, 发现 → 發現; with
`phrases: true` and `to: tw` also regional words: 软件 → 軟體).
"""
from __future__ import annotations

from typing import Literal

import pyarrow as pa

from garden.operator import Doc, Mapper
from garden.registry import register
from garden.script import cjk_language, han_variant

# `to` (and `phrases`) → the OpenCC configuration that converts into that form.
_CONFIGS = {("hans", False): "t2s", ("hans", True): "tw2sp", ("hant", False): "s2t", ("tw", False): "s2tw",
            ("tw", True): "s2twp", ("hk", False): "s2hk"}


@register
class ZhConvert(Mapper):
    """Convert Chinese text between Simplified and Traditional (OpenCC): to hans, hant, tw or hk.

    Only Chinese documents change: lang zh where a `lang` column exists (run `language` first);
    without one, text whose CJK letters are Han (not Japanese kana or Korean Hangul: OpenCC would
    turn Japanese 語 into 语). `zh_converted` is true for documents whose text changed, false for
    Chinese documents already in that form, null for the others; `script` is updated if present.
    """

    name = "zh_convert"
    to: Literal["hans", "hant", "tw", "hk"] = "hans"
    phrases: bool = False
    outputs = {"zh_converted": pa.bool_()}
    param_docs = {
        "to": "hans: Simplified (mainland); hant: Traditional (OpenCC standard forms); tw: Traditional, Taiwan "
              "forms (裡, 為); hk: Traditional, Hong Kong forms. Converts documents with lang zh; documents "
              "without a lang column when their text is Han script (no kana or Hangul share)",
        "phrases": "also convert regional vocabulary (tw: 软件 → 軟體, 鼠标 → 滑鼠; hans: the reverse); "
                   "only for to: tw and to: hans",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if params["phrases"] and params["to"] not in ("tw", "hans"):
            raise ValueError(f"phrases: true needs to: tw or to: hans (OpenCC has no regional vocabulary for "
                             f"'{params['to']}')")
        try:
            import opencc  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"zh_convert needs the opencc package: pip install opencc ({exc})") from None

    def setup(self) -> None:
        import opencc

        self._converter = opencc.OpenCC(_CONFIGS[(self.to, self.phrases)])

    def counters(self, docs: list[Doc]) -> dict[str, int]:
        """Documents whose text changed (stats.json's `counts`, the report)."""
        return {"converted": sum(1 for d in docs if d.get("zh_converted"))}

    def map(self, doc: Doc) -> Doc:
        text = doc["text"]
        lang = doc.get("lang")
        chinese = lang == "zh" if lang is not None else bool(text) and cjk_language(text) == "zh"
        if not chinese:
            doc["zh_converted"] = None
            return doc
        converted = self._converter.convert(text)  # type: ignore[union-attr]
        doc["zh_converted"] = converted != text
        if converted != text:
            doc["text"] = converted
            if doc.get("script") is not None:
                doc["script"] = han_variant(converted)
        return doc
