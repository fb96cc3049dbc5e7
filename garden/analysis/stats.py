"""Per-document statistics and their summaries, language-aware (a CJK character is a word).

The numbers mean the same thing as the filters that use them (garden.text.words), so a
threshold read off an analysis applies unchanged in a recipe.
"""
from __future__ import annotations

import math
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import regex

from garden.sentences import count_sentences
from garden.text import CJK, words

CJK_CHAR_RE = regex.compile(rf"[{CJK}]")

# one scan finds punctuation, symbols and digits; the few matches are then told apart by category
MARKS_RE = regex.compile(r"[\p{P}\p{S}\p{Nd}]")

# name → (label, description, log-scale histogram)
STATS: dict[str, tuple[str, str, bool]] = {
    "chars": ("characters", "len(text)", True),
    "words": ("words", "garden.text.words: letter/digit runs, each CJK character one word", True),
    "lines": ("lines", "newline-separated lines, blank ones included", True),
    "sentences": ("sentences", "garden.sentences: a real sentence splitter (abbreviations are no ends; CJK 。！？ are)", True),
    "mean_word_len": ("mean word length", "characters per word; not measured for CJK text, where every character is a word", False),
    "mean_line_len": ("mean line length", "characters per line (without the newline)", False),
    "symbol_ratio": ("symbol ratio", "symbol characters (Unicode S*: # $ + < = > | ~ emoji …) / characters", False),
    "non_alnum_ratio": ("non-alphanumeric ratio", "punctuation and symbols / non-space characters", False),
    "digit_ratio": ("digit ratio", "decimal digits / non-space characters", False),
    "dup_line_ratio": ("duplicate-line ratio", "non-blank lines equal to an earlier line / non-blank lines", False),
    "top_2gram_ratio": ("top 2-gram ratio", "characters in the most frequent repeated word 2-gram / word characters", False),
    "top_3gram_ratio": ("top 3-gram ratio", "same for word 3-grams", False),
    "top_4gram_ratio": ("top 4-gram ratio", "same for word 4-grams", False),
}
OPTIONAL_STATS: dict[str, tuple[str, str, bool]] = {
    "lang_score": ("language score", "confidence of the language label", False),
    "stopword_share": ("stop-word share", "words that are stop words of the document's language (gopher_quality's lists; "
                       "CJK: characters inside stop words)", False),
    "quality_score": ("quality score", "the quality_score annotation", False),
    "pii_count": ("PII matches", "emails, phones, IDs, IPs found by the pii operator", False),
    "tokens": ("tokens", "tokens with the given tokenizer", True),
    "chars_per_token": ("characters per token", "len(text) / tokens", False),
    "perplexity": ("perplexity", "under the n-gram LM of the document's language (--lm)", True),
}


def top_ngram_ratios(ws: Sequence[str], ns: Sequence[int], total_chars: int) -> dict[int, float]:
    """Gopher's repetition signal for each n: share of word characters covered by the most frequent n-gram.

    Counted only when that n-gram occurs more than once (0 for texts with fewer than n words);
    among equally frequent n-grams the one covering most characters counts. Vectorised: words
    become integer ids, n-grams 64-bit rolling hashes, counted with numpy.
    """
    out = {n: 0.0 for n in ns}
    if total_chars <= 0 or len(ws) < min(ns):
        return out
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(w, len(vocab)) for w in ws), dtype=np.uint64, count=len(ws))
    cum = np.concatenate(([0], np.cumsum(np.fromiter((len(w) for w in ws), dtype=np.int64, count=len(ws)))))
    mult = np.uint64(0x9E3779B97F4A7C15)
    for n in ns:
        m = len(ws) - n + 1
        if m < 2:
            continue
        h = ids[:m].copy()
        for k in range(1, n):
            h = h * mult + ids[k:k + m] + np.uint64(1)  # wraps mod 2**64
        _, first, counts = np.unique(h, return_index=True, return_counts=True)
        top = counts.max()
        if top < 2:
            continue
        starts = first[counts == top]
        gram_chars = (cum[starts + n] - cum[starts]).max()
        out[n] = min(1.0, float(top * gram_chars) / total_chars)
    return out


def top_ngram_ratio(ws: Sequence[str], n: int, total_chars: int) -> float:
    return top_ngram_ratios(ws, (n,), total_chars)[n]


def doc_stats(text: str) -> dict[str, float | None]:
    """The built-in statistics of one text (see STATS for definitions)."""
    n_chars = len(text)
    ws = words(text)
    n_words = len(ws)
    word_chars = sum(len(w) for w in ws)
    line_list = text.split("\n") if text else []
    n_lines = len(line_list)
    non_space = sum(len(part) for part in text.split())
    marks = Counter(unicodedata.category(c)[0] for c in MARKS_RE.findall(text))  # P, S or N(d)
    n_symbols, n_digits = marks.get("S", 0), marks.get("N", 0)
    n_punct_sym = n_symbols + marks.get("P", 0)
    stripped = [ln.strip() for ln in line_list if ln.strip()]
    dups = len(stripped) - len(set(stripped))
    tops = top_ngram_ratios(ws, (2, 3, 4), word_chars)
    cjk_text = n_words > 0 and 2 * len(CJK_CHAR_RE.findall(text)) >= n_words  # most words are CJK characters
    return {
        "chars": n_chars,
        "words": n_words,
        "lines": n_lines,
        "sentences": count_sentences(text),
        "mean_word_len": None if cjk_text else (word_chars / n_words if n_words else 0.0),
        "mean_line_len": sum(len(ln) for ln in line_list) / n_lines if n_lines else 0.0,
        "symbol_ratio": n_symbols / n_chars if n_chars else 0.0,
        "non_alnum_ratio": n_punct_sym / non_space if non_space else 0.0,
        "digit_ratio": n_digits / non_space if non_space else 0.0,
        "dup_line_ratio": dups / len(stripped) if stripped else 0.0,
        "top_2gram_ratio": tops[2],
        "top_3gram_ratio": tops[3],
        "top_4gram_ratio": tops[4],
    }


def quantile(sorted_vals: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of an already sorted sequence."""
    if not sorted_vals:
        return float("nan")
    pos = (len(sorted_vals) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def summarize(values: Iterable[float | None]) -> dict[str, float]:
    """count, mean, min, p10, median, p90, max (None values skipped)."""
    vals = sorted(float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
    if not vals:
        return {"count": 0}
    return {"count": len(vals), "mean": sum(vals) / len(vals), "min": vals[0], "p10": quantile(vals, 0.1),
            "median": quantile(vals, 0.5), "p90": quantile(vals, 0.9), "max": vals[-1]}


def stat_names(rows: Sequence[dict]) -> list[str]:
    """Built-in statistics plus the optional ones that at least one row has."""
    names = list(STATS)
    for name in OPTIONAL_STATS:
        if any(r.get(name) is not None for r in rows):
            names.append(name)
    return names


def stat_info(name: str) -> tuple[str, str, bool]:
    return STATS.get(name) or OPTIONAL_STATS.get(name) or (name, "", False)


def group_summaries(rows: Sequence[dict], key: str, names: Sequence[str]) -> dict[str, dict]:
    """Per value of `key` (source, lang): docs in the sample and a summary of every statistic."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get(key) or "unknown"), []).append(r)
    out = {}
    for value, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out[value] = {"docs": len(members), "share": len(members) / len(rows),
                      "stats": {n: summarize(m.get(n) for m in members) for n in names}}
    return out
