"""garden.text: what a word is, which characters are CJK; exact outputs pinned (computed before the
splitting rules moved here from the quality and dedup operators), since length, repetition and
dedup decisions are made on them."""
from __future__ import annotations

import regex

from garden.text import (CJK, CJK_CHAR_RE, HAN_KANA, match_words, needs_full_words, split_tokens, split_words,
                         words)

T = ["The quick brown fox jumps over the lazy dog's back.", "数据清洗很重要，质量第一。",
     "e.g. state-of-the-art U.S. 3.14 don't", "Mixed 中文 text, ひらがな カタカナ 한국어!", "naïve café — ok…",
     "tab\there\u200bzero", "x_y __init__ a1b2 ½ ²"]


def test_words_keep_inner_punctuation_and_count_each_cjk_character():
    assert words(T[0]) == ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog's", "back"]
    assert words(T[1]) == list("数据清洗很重要质量第一")
    assert words(T[2]) == ["e.g", "state-of-the-art", "U.S", "3.14", "don't"]
    assert words(T[3]) == ["Mixed", "中", "文", "text", *"ひらがなカタカナ한국어"]
    assert words(T[5]) == ["tab", "here\u200bzero"]
    assert words(T[6]) == ["x", "y", "init", "a1b2", "½", "²"]


def test_split_words_is_words_by_a_faster_path():
    assert [needs_full_words(t) for t in T] == [False, True, False, True, False, True, False]
    for t in T:
        assert split_words(t) == words(t), t


def test_split_tokens_counts_punctuation_runs():
    assert [split_tokens(t)[1] for t in T] == [1, 2, 2, 2, 2, 0, 3]
    for t in T:
        assert split_tokens(t)[0] == words(t), t


def test_match_words_fold_case_and_split_at_any_punctuation():
    assert match_words(T[0]) == ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "s", "back"]
    assert match_words(T[2]) == ["e", "g", "state", "of", "the", "art", "u", "s", "3", "14", "don", "t"]
    assert match_words(T[5]) == ["tab", "here", "zero"]
    assert match_words(T[6]) == ["x_y", "__init__", "a1b2", "1", "2", "2"]  # NFKC: ½ → 1⁄2, ² → 2
    assert match_words("ＡＢＣ　ｄｅｆ") == ["abc", "def"]


def test_cjk_classes():
    assert CJK == r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
    assert HAN_KANA == r"\p{Han}\p{Hiragana}\p{Katakana}"
    assert [bool(CJK_CHAR_RE.search(t)) for t in T] == [False, True, False, True, False, False, False]
    assert regex.findall(f"[{HAN_KANA}]+", "中文 ひらがな 한국어") == ["中文", "ひらがな"]
