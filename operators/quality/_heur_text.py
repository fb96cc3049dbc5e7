"""Shared text facts for the heuristic quality rules: script guess, words, line endings.

Why a helper: gopher, c4, fineweb and line_filter must agree on what a word, a CJK document and
a terminal punctuation mark are, or their thresholds would mean different things.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import regex

from garden.languages import document_language
from garden.text import CJK, WORD_RE, count_words, words

CJK_LANGS = frozenset({"zh", "ja", "ko", "yue", "wuu", "lzh"})
_CJK_CHAR_RE = regex.compile(rf"[{CJK}]")
_LETTER_RE = regex.compile(r"\p{L}")
_GUESS_SAMPLE = 2000

# C4's terminal punctuation (. ? ! " ') plus closing quotes of other scripts; with every Unicode
# Sentence_Terminal character (。！？ । ؟ ...) added by end_chars().
_QUOTES = "\"'”’」』"
ELLIPSES = ("...", "…")


# Where garden.text.words' classes and the stdlib `re`'s \w agree (no CJK, no combining marks,
# no control/format/private/unassigned characters), `re` gives the same words at twice the speed.
_LATIN_WORD_RE = re.compile(r"[^\W_]+(?:['’\-.][^\W_]+)*")


# Blocks holding CJK characters (Han, kana, Hangul, full-width forms), generously: a character
# wrongly sent to the full path costs only speed.
_CJK_BLOCKS = ((0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF),
               (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1B000, 0x1B16F), (0x20000, 0x10FFFF))


@functools.lru_cache(maxsize=1)
def _needs_full_words_re() -> re.Pattern:
    """A stdlib character class (fast to search) of every character where the two word rules may differ:
    combining marks, control/format/private-use/unassigned characters, CJK blocks."""
    ranges: list[list[int]] = []
    for cp in range(0x20000):
        if 0xD800 <= cp < 0xE000 or cp in (9, 10, 13):
            continue
        cat = unicodedata.category(chr(cp))
        if cat[0] != "M" and cat not in ("Cc", "Cf", "Co", "Cn"):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    ranges += [list(block) for block in _CJK_BLOCKS]
    parts = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[{parts}]")


def _needs_full_words(text: str) -> bool:
    if text.isascii():
        return _ASCII_CONTROL_RE.search(text) is not None
    return _needs_full_words_re().search(text) is not None


_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Tokens as word tokenizers (nltk, spaCy) give them: words plus runs of punctuation/symbols.
_LATIN_TOKEN_RE = re.compile(rf"({_LATIN_WORD_RE.pattern})|(?:[^\w\s]|_)+")
_TOKEN_RE = regex.compile(rf"({WORD_RE.pattern})|[\p{{P}}\p{{S}}]+")


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


def split_words(text: str) -> list[str]:
    """Language-aware words (garden.text.words): CJK characters are words, punctuation is not."""
    if not _needs_full_words(text):
        return _LATIN_WORD_RE.findall(text)
    return words(text)


@functools.lru_cache(maxsize=1)
def end_chars() -> frozenset:
    """Characters that end a sentence in any script (Unicode Sentence_Terminal) plus closing quotes."""
    term = regex.compile(r"\p{Sentence_Terminal}")
    found = (chr(c) for c in range(0x20000) if not 0xD800 <= c < 0xE000)
    return frozenset(c for c in found if term.match(c)) | frozenset(_QUOTES)


def split_tokens(text: str) -> tuple[list[str], int]:
    """(words, number of punctuation tokens): what a word tokenizer yields, words as in split_words.

    Published implementations of some rules (Gopher's alphabetic-word share, FineWeb's list
    ratio) count punctuation tokens among the "words"; those rules use this.
    """
    pattern = _TOKEN_RE if _needs_full_words(text) else _LATIN_TOKEN_RE
    found = pattern.findall(text)
    n_punct = found.count("")
    return (list(filter(None, found)) if n_punct else found), n_punct


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
