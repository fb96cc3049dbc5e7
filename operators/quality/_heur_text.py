"""Shared text facts for the heuristic quality rules: script guess, words, line endings.

Why a helper: gopher, c4, fineweb and line_filter must agree on what a word, a CJK document and
a terminal punctuation mark are, or their thresholds would mean different things.
"""
from __future__ import annotations

import functools
import re

import regex

from garden.languages import document_language
from garden.text import CJK_CHAR_RE as _CJK_CHAR_RE
from garden.text import count_words, split_tokens, split_words  # noqa: F401  (split_*: re-exported)
from garden.text import needs_full_words as _needs_full_words

CJK_LANGS = frozenset({"zh", "ja", "ko", "yue", "wuu", "lzh"})
_LETTER_RE = regex.compile(r"\p{L}")
_GUESS_SAMPLE = 2000

# C4's terminal punctuation (. ? ! " ') plus closing quotes of other scripts; with every Unicode
# Sentence_Terminal character (。！？ । ؟ ...) added by end_chars().
_QUOTES = "\"'”’」』"
ELLIPSES = ("...", "…")


def lang_of(doc: dict) -> str:
    """The document language: the `lang` column when an earlier operator set it, else '' (also when
    undetermined: the script decides then). The same reading as per-language thresholds use."""
    return document_language(doc)


def cjk_share(text: str) -> float:
    """Share of CJK characters among the letters of ~2,000 characters from start, middle and end (cheap)."""
    if len(text) <= _GUESS_SAMPLE:
        sample = text
    else:
        third, mid = _GUESS_SAMPLE // 3, len(text) // 2
        sample = text[:third] + text[mid - third // 2:mid + third // 2] + text[-third:]
    if sample.isascii():
        return 0.0
    letters = len(_LETTER_RE.findall(sample))
    if not letters:
        return 0.0
    return len(_CJK_CHAR_RE.findall(sample)) / letters


def is_cjk(doc: dict, text: str | None = None, threshold: float = 0.3) -> bool:
    """True for Chinese/Japanese/Korean documents: by `lang` when known, else by script share."""
    lang = lang_of(doc)
    if lang:
        return lang in CJK_LANGS
    return cjk_share(doc["text"] if text is None else text) >= threshold


def english_rules_apply(doc: dict, langs: list[str], cjk: bool) -> bool:
    """Rules written for English (stop words) apply to `langs`; with no `lang` column, to non-CJK text."""
    lang = lang_of(doc)
    if lang:
        return lang in langs
    return not cjk


@functools.lru_cache(maxsize=1)
def end_chars() -> frozenset:
    """Characters that end a sentence in any script (Unicode Sentence_Terminal) plus closing quotes."""
    term = regex.compile(r"\p{Sentence_Terminal}")
    found = (chr(c) for c in range(0x20000) if not 0xD800 <= c < 0xE000)
    return frozenset(c for c in found if term.match(c)) | frozenset(_QUOTES)


# A whole word (as split_words cuts it) made of digits only: starts with a digit not glued to a
# preceding word, and is not continued by a letter. Lets letter-less words be counted in C.
_LATIN_DIGIT_WORD_RE = re.compile(
    r"\d(?<![^\W_]\d)(?<![^\W_]['’\-.]\d)\d*(?:['’\-.]\d+)*(?![^\W_])(?!['’\-.][^\W_])")
_LETTER_RE = regex.compile(r"\p{L}")


def count_letterless(text: str, words: list[str]) -> int:
    """How many of `words` (split_words(text)) contain no letter (numbers, codes)."""
    if not _needs_full_words(text):
        return len(_LATIN_DIGIT_WORD_RE.findall(text))
    return sum(1 for w in words if w.isdigit() or not _LETTER_RE.search(w))


def spaced_words(text: str, words: list[str]) -> list[str]:
    """The words that are not single CJK characters (for mean word length in mixed-script text)."""
    if text.isascii() or not _CJK_CHAR_RE.search(text):
        return words
    return [w for w in words if not _CJK_CHAR_RE.match(w)]


def enough_line_words(line: str, tokens: list[str], minimum: int) -> bool:
    """C4's words-per-line test, language-aware: whitespace tokens, or words where CJK characters count."""
    if len(tokens) >= minimum:
        return True
    return not line.isascii() and count_words(line) >= minimum


def ends_sentence(line: str) -> bool:
    """Ends in terminal punctuation (C4's rule: not an ellipsis). `line` is already stripped."""
    return bool(line) and line[-1] in end_chars() and not line.endswith(ELLIPSES)
