"""Language-aware text helpers shared by operators and analysis: the one place that says what a
word is and which characters are CJK.

Chinese and Japanese have no spaces between words: each CJK character counts as a word, so
length and repetition rules mean the same thing for them as for English.
"""
from __future__ import annotations

import functools
import re
import unicodedata

import regex

# Regex character-class bodies (use inside [...]). CJK: Chinese, Japanese and Korean letters.
# HAN_KANA: Chinese and Japanese letters only, no Hangul; train_tokenizer's pre-tokenizer isolates
# runs of these, while Korean, written with spaces between words, is split like Latin text.
CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
HAN_KANA = r"\p{Han}\p{Hiragana}\p{Katakana}"
CJK_CHAR_RE = regex.compile(rf"[{CJK}]")
WORD_RE = regex.compile(rf"[{CJK}]|[^\s{CJK}\p{{P}}\p{{S}}]+(?:['’\-\.][^\s{CJK}\p{{P}}\p{{S}}]+)*")
WS_RE = regex.compile(r"[^\S\n]+")
MANY_NEWLINES_RE = regex.compile(r"\n{3,}")
CONTROL_RE = regex.compile(r"[\p{Cc}\p{Cf}&&[^\n\t\u200d]]", flags=regex.V1)
MOJIBAKE_RE = regex.compile(r"[ÃÂâ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")


def words(text: str) -> list[str]:
    """Words: runs of letters/digits, or single CJK characters; punctuation is not a word."""
    return WORD_RE.findall(text)


def count_words(text: str) -> int:
    return sum(1 for _ in WORD_RE.finditer(text))


# Where WORD_RE's classes and the stdlib `re`'s \w agree (no CJK, no combining marks, no
# control/format/private/unassigned characters), `re` gives the same words at twice the speed.
_LATIN_WORD_RE = re.compile(r"[^\W_]+(?:['’\-.][^\W_]+)*")
# Blocks holding CJK characters (Han, kana, Hangul, full-width forms), generously: a character
# wrongly sent to the full path costs only speed.
_CJK_BLOCKS = ((0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF),
               (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x1B000, 0x1B16F), (0x20000, 0x10FFFF))
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Tokens as word tokenizers (nltk, spaCy) give them: words plus runs of punctuation/symbols.
_LATIN_TOKEN_RE = re.compile(rf"({_LATIN_WORD_RE.pattern})|(?:[^\w\s]|_)+")
_TOKEN_RE = regex.compile(rf"({WORD_RE.pattern})|[\p{{P}}\p{{S}}]+")


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


def needs_full_words(text: str) -> bool:
    """False when the fast stdlib rule gives exactly `words(text)` (plain Latin-script text)."""
    if text.isascii():
        return _ASCII_CONTROL_RE.search(text) is not None
    return _needs_full_words_re().search(text) is not None


def split_words(text: str) -> list[str]:
    """`words(text)`, twice as fast on Latin-script text: what the quality heuristics count."""
    if not needs_full_words(text):
        return _LATIN_WORD_RE.findall(text)
    return words(text)


def split_tokens(text: str) -> tuple[list[str], int]:
    """(words, number of punctuation tokens): what a word tokenizer yields, words as in split_words.

    Published implementations of some rules (Gopher's alphabetic-word share, FineWeb's list
    ratio) count punctuation tokens among the "words"; those rules use this.
    """
    pattern = _TOKEN_RE if needs_full_words(text) else _LATIN_TOKEN_RE
    found = pattern.findall(text)
    n_punct = found.count("")
    return (list(filter(None, found)) if n_punct else found), n_punct


# Letter/digit runs, or one CJK character: WORD_RE without its apostrophe/hyphen rules, which
# matching text against text does not need (1.6x faster).
MATCH_WORD_RE = regex.compile(rf"[{CJK}]|[^\W{CJK}]+")


def match_words(text: str) -> list[str]:
    """Words of the NFKC-casefolded text, split at any punctuation; each CJK character is one word.
    What near-dedup shingles and decontamination n-grams are made of."""
    return MATCH_WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def normalize_key(text: str) -> str:
    """The form two texts must share to count as exact duplicates: NFKC, casefolded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252/latin-1 ('cafÃ©' → 'café'), only where that is exactly reversible."""
    if not MOJIBAKE_RE.search(text):
        return text
    for enc in ("cp1252", "latin-1"):
        try:
            fixed = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if len(MOJIBAKE_RE.findall(fixed)) < len(MOJIBAKE_RE.findall(text)):
            return fixed
    return text


def clean_whitespace(text: str) -> str:
    lines = [WS_RE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()


def remove_control(text: str) -> str:
    return CONTROL_RE.sub("", text)
