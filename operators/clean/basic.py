"""Everyday operators: length bounds, Unicode/whitespace normalisation, sampling, meta-field filters."""
from __future__ import annotations

import json
import unicodedata
from typing import Literal, Optional

import regex

from garden.hashing import seeded_fraction
from garden.operator import Doc, Filter, Mapper, Verdict
from garden.registry import register
from garden.text import clean_whitespace, count_words, fix_mojibake, remove_control


@register
class LengthFilter(Filter):
    """Drop documents outside bounds on characters, words (CJK characters count as words) or lines."""

    name = "length_filter"
    param_bounds = {p: (0, None) for p in ("min_chars", "max_chars", "min_words", "max_words", "min_lines", "max_lines")}
    per_language = {p: {} for p in ("min_chars", "max_chars", "min_words", "max_words", "min_lines", "max_lines")}
    min_chars: int = 0
    max_chars: Optional[int] = None
    min_words: int = 0
    max_words: Optional[int] = None
    min_lines: int = 0
    max_lines: Optional[int] = None

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        at = self.threshold  # each bound may be a map by language: {zh: 100, default: 200}
        n = len(text)
        if n < at("min_chars", doc):
            return "min_chars"
        max_chars = at("max_chars", doc)
        if max_chars is not None and n > max_chars:
            return "max_chars"
        min_words, max_words = at("min_words", doc), at("max_words", doc)
        if min_words or max_words is not None:
            w = count_words(text)
            if w < min_words:
                return "min_words"
            if max_words is not None and w > max_words:
                return "max_words"
        min_lines, max_lines = at("min_lines", doc), at("max_lines", doc)
        if min_lines or max_lines is not None:
            lines = text.count("\n") + 1 if text else 0
            if lines < min_lines:
                return "min_lines"
            if max_lines is not None and lines > max_lines:
                return "max_lines"
        return True


@register
class Normalize(Mapper):
    """Unicode normalisation, control-character removal, whitespace cleanup, reversible mojibake repair."""

    name = "normalize"
    form: Literal["NFC", "NFKC", "NFD", "NFKD", "none"] = "NFC"
    whitespace: bool = True
    remove_control: bool = True
    fix_mojibake: bool = True
    param_docs = {
        "form": "Unicode normalisation form (NFKC also folds full-width ASCII and ligatures)",
        "whitespace": "collapse runs of spaces/tabs, strip lines, at most one blank line in a row",
        "remove_control": "drop control and format characters except newline and tab",
        "fix_mojibake": "undo UTF-8 decoded as cp1252/latin-1, only where exactly reversible",
    }

    def map(self, doc: Doc) -> Doc:
        text = doc["text"]
        if self.fix_mojibake:
            text = fix_mojibake(text)
        if self.form != "none":
            text = unicodedata.normalize(self.form, text)
        if self.remove_control:
            text = remove_control(text)
        if self.whitespace:
            text = clean_whitespace(text)
        doc["text"] = text
        return doc


stable_fraction = seeded_fraction  # its name here before garden.hashing held the rule


@register
class Sample(Filter):
    """Keep a deterministic, seeded fraction of documents (decided by document id)."""

    name = "sample"
    fraction: float = 0.1
    seed: int = 0

    @staticmethod
    def validate_params(params: dict) -> None:
        if not 0.0 <= params["fraction"] <= 1.0:
            raise ValueError("fraction must be between 0 and 1")

    def keep(self, doc: Doc) -> Verdict:
        return True if stable_fraction(self.seed, doc["id"]) < self.fraction else "not_sampled"


@register
class FieldFilter(Filter):
    """Keep or drop documents by a field of the input record (in `meta`, dotted path) or a column."""

    name = "field_filter"
    field: str = ""
    values: list = []
    regex: Optional[str] = None
    mode: Literal["keep", "drop"] = "keep"
    missing: Literal["keep", "drop"] = "drop"
    param_docs = {
        "field": "meta field (dotted path, e.g. warc.url) or column (source, lang, ...)",
        "values": "exact values that match",
        "regex": "or: a regular expression searched in the value",
        "mode": "keep = keep only matches; drop = drop matches",
        "missing": "what to do with documents that lack the field",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if not params["field"]:
            raise ValueError("field is required")
        if not params["values"] and not params["regex"]:
            raise ValueError("give values or regex")
        if params["regex"]:
            try:
                regex.compile(params["regex"])
            except regex.error as exc:
                raise ValueError(f"bad regex: {exc}") from None

    def setup(self) -> None:
        self._pattern = regex.compile(self.regex) if self.regex else None
        self._values = {str(v) for v in self.values}
        self._path = self.field.split(".")

    def _lookup(self, doc: Doc):
        if self.field in doc and self.field != "meta":
            return doc[self.field]
        value = json.loads(doc.get("meta") or "{}")
        for part in self._path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def keep(self, doc: Doc) -> Verdict:
        value = self._lookup(doc)
        if value is None:
            return True if self.missing == "keep" else f"missing:{self.field}"
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        matched = text in self._values or bool(self._pattern and self._pattern.search(text))
        if self.mode == "keep":
            return True if matched else f"no_match:{self.field}"
        return f"match:{self.field}" if matched else True
