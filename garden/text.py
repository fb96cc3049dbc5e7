"""Language-aware text helpers shared by operators and analysis.

Chinese and Japanese have no spaces between words: each CJK character counts as a word, so
length and repetition rules mean the same thing for them as for English.
"""
from __future__ import annotations

import unicodedata

import regex

CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
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
