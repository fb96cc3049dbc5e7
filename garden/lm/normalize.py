"""CCNet-style text normalisation before n-gram training and scoring.

CCNet (cc_net/text_normalizer.py) lowercases, strips accents, maps every digit to 0, replaces
Unicode punctuation by its ASCII look-alike and removes non-printing characters. The same
settings must be used for training and scoring, so a model records its `Normalizer`.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

# CCNet's table of Unicode punctuation and its ASCII replacement (punct=1).
UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"', "１": '"',
    "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":", "？": "?", "！": "!",
    "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ", "～": "~", "’": "'", "…": "...",
    "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]", "％": "%", "►": "-",
}
_PUNCT_RE = re.compile("[" + "".join(re.escape(c) for c in UNICODE_PUNCT) + "]")
_DIGIT_RE = re.compile(r"\d")
# Control and format characters (C0/C1 except tab/newline, zero-width, bidi marks).
_NON_PRINTING_RE = re.compile("[" + "".join(chr(c) for c in list(range(0, 9)) + list(range(11, 32)) + list(range(127, 160)))
                              + "\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


@dataclasses.dataclass(frozen=True)
class Normalizer:
    """Which CCNet normalisation steps run; stored inside every model."""

    lowercase: bool = True
    strip_accents: bool = True
    digits_to_zero: bool = True
    punct: str = "ascii"  # ascii (CCNet punct=1) | remove (punct=2) | keep

    def __call__(self, text: str) -> str:
        text = text.strip()
        if not text:
            return text
        if self.lowercase:
            text = text.lower()
        if self.strip_accents:
            text = _strip_accents(text)
        if self.digits_to_zero:
            text = _DIGIT_RE.sub("0", text)
        if self.punct == "ascii":
            text = _PUNCT_RE.sub(lambda m: UNICODE_PUNCT[m.group()], text)
        elif self.punct == "remove":
            text = _PUNCT_RE.sub("", text)
        return _NON_PRINTING_RE.sub("", text)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Normalizer":
        data = data or {}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown normalisation settings {sorted(unknown)}")
        if data.get("punct", "ascii") not in ("ascii", "remove", "keep"):
            raise ValueError("normalize.punct must be ascii, remove or keep")
        return cls(**data)


@functools.lru_cache(maxsize=1)
def _bmp_marks() -> re.Pattern:
    """Combining marks of the Basic Multilingual Plane as one character class (built once, ~0.05 s)."""
    marks = [chr(c) for c in range(0x10000) if unicodedata.category(chr(c)) == "Mn"]
    return re.compile("[" + "".join(re.escape(m) for m in marks) + "]+")


def _strip_accents(text: str) -> str:
    """Drop combining marks (category Mn) after NFD, as CCNet does; CJK text is unchanged."""
    if text.isascii():
        return text
    if not unicodedata.is_normalized("NFD", text):
        text = unicodedata.normalize("NFD", text)
    text = _bmp_marks().sub("", text)
    if max(text) > "\uffff":  # rare astral marks (e.g. musical symbols): the slow path
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return text
