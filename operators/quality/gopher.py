"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A).

Defaults are the published thresholds; with a `lang` column each threshold takes the value for
that language (operators/quality/_thresholds.py, sources there), and the stop-word rule uses that
language's list (FineWeb-2's, stopwords.json). Words are language-aware (garden.text.words: each
CJK character is a word), so Chinese and Japanese are not judged by whitespace; the mean word
length is skipped for CJK documents.
"""
from __future__ import annotations

import functools
import json
import os
import re
from typing import Optional


from garden.languages import document_language
from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from operators.quality._heur_ngrams import NgramIds, duplicates
from operators.quality._heur_text import CJK_LANGS, count_letterless, english_rules_apply, is_cjk, spaced_words, split_tokens, split_words
from operators.quality._thresholds import GOPHER_QUALITY, GOPHER_REPETITION, table

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
_STOP_WORDS_FILE = os.path.join(os.path.dirname(__file__), "stopwords.json")


@functools.lru_cache(maxsize=1)
def shipped_stop_words() -> dict[str, list[str]]:
    """Stop words by language code, shipped as package data (origin and licence in the file's `_origin`)."""
    with open(_STOP_WORDS_FILE, encoding="utf-8") as fh:
        return {lang: words for lang, words in json.load(fh).items() if not lang.startswith("_")}


def _stop_word_pattern(words: list[str], cjk: bool) -> "re.Pattern | None":
    """Whole words, case-insensitive; for CJK languages (no spaces, particles glued to words) anywhere."""
    if not words:
        return None
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        if cjk:
            parts.append(re.escape(w))
        else:  # "l'" and "d'" end in an apostrophe: a letter follows them
            parts.append(rf"(?<!\w){re.escape(w)}" + (r"(?!\w)" if w[-1:].isalnum() else ""))
    return re.compile("|".join(parts), re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def stop_words_re(lang: str) -> "re.Pattern | None":
    """The stop words of a language as one pattern (Gopher's English list for en and for text
    without a language; the shipped list otherwise; None for a language without one)."""
    if lang in ("", "en"):
        return _stop_word_pattern(GOPHER_STOP_WORDS, cjk=False)
    words = shipped_stop_words().get(lang)
    return _stop_word_pattern(words, cjk=lang in CJK_LANGS) if words else None


BULLETS = ("•", "-", "*", "‣", "◦", "●", "▪", "·")
_PARAGRAPH_RE = re.compile(r"\n{2,}")


@register
class GopherQuality(Filter):
    """Gopher quality rules: word count, mean word length, symbol ratios, bullets, alphabetic words, stop words."""

    name = "gopher_quality"
    per_language = table(GOPHER_QUALITY, "min_doc_words", "max_doc_words", "min_mean_word_length", "max_mean_word_length",
                         "max_symbol_word_ratio", "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                         "min_alpha_words_ratio", "min_stop_words")
    param_bounds = {"min_doc_words": (0, None), "max_doc_words": (0, None), "min_mean_word_length": (0, None),
                    "max_mean_word_length": (0, None), "max_symbol_word_ratio": (0, None),
                    "max_bullet_lines_ratio": (0, 1), "max_ellipsis_lines_ratio": (0, 1),
                    "min_alpha_words_ratio": (0, 1), "min_stop_words": (0, None)}
    min_doc_words: Optional[int] = 50
    max_doc_words: Optional[int] = 100000
    min_mean_word_length: Optional[float] = 3
    max_mean_word_length: Optional[float] = 10
    max_symbol_word_ratio: Optional[float] = 0.1
    max_bullet_lines_ratio: Optional[float] = 0.9
    max_ellipsis_lines_ratio: Optional[float] = 0.3
    min_alpha_words_ratio: Optional[float] = 0.8
    min_stop_words: Optional[int] = 2
    stop_words: list[str] = GOPHER_STOP_WORDS
    stop_words_langs: list[str] = ["en", *sorted(shipped_stop_words())]
    param_docs = {
        "min_doc_words": "fewer words → min_doc_words (CJK characters count as words); null disables",
        "max_doc_words": "more words → max_doc_words",
        "min_mean_word_length": "mean word length (characters) below → mean_word_length; CJK characters are left out",
        "max_mean_word_length": "mean word length above → mean_word_length; CJK characters are left out",
        "max_symbol_word_ratio": "'#' per word or '...'/'…' per word above → hash_ratio / ellipsis_ratio",
        "max_bullet_lines_ratio": "share of lines starting with a bullet above → bullet_lines",
        "max_ellipsis_lines_ratio": "share of lines ending with an ellipsis above → ellipsis_lines",
        "min_alpha_words_ratio": "share of tokens (words and punctuation) with a letter below → alpha_words",
        "min_stop_words": "fewer distinct stop words → stop_words (only for stop_words_langs)",
        "stop_words": "the stop-word list for English and documents without `lang` (Gopher's list by default); "
                      "other languages use Garden's shipped lists (FineWeb-2's, operators/quality/stopwords.json)",
        "stop_words_langs": "languages the stop-word rule applies to (by `lang`; without it: non-CJK text, with `stop_words`)",
    }

    def setup(self) -> None:
        self._stop_re = _stop_word_pattern(list(self.stop_words), cjk=False)
        self._langs = [lang.lower() for lang in self.stop_words_langs]
        self._stop_res: dict[str, "re.Pattern | None"] = {"": self._stop_re, "en": self._stop_re}

    def _stop_words_for(self, lang: str) -> "re.Pattern | None":
        """The stop-word pattern for a language: `stop_words` for en and unknown, else the shipped list."""
        if lang not in self._stop_res:
            self._stop_res[lang] = stop_words_re(lang) or self._stop_re
        return self._stop_res[lang]

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        cjk = is_cjk(doc, text)
        at = self.threshold
        words, n_punct = split_tokens(text)
        n = len(words)
        min_words, max_words = at("min_doc_words", doc), at("max_doc_words", doc)
        if min_words is not None and n < min_words:
            return "min_doc_words"
        if max_words is not None and n > max_words:
            return "max_doc_words"
        if n == 0:
            return True
        low, high = at("min_mean_word_length", doc), at("max_mean_word_length", doc)
        spaced = spaced_words(text, words) if not cjk else []  # CJK characters have no word length to judge
        if spaced and (low is not None or high is not None):
            mean = sum(map(len, spaced)) / len(spaced)
            if low is not None and mean < low:
                return "mean_word_length"
            if high is not None and mean > high:
                return "mean_word_length"
        max_symbols = at("max_symbol_word_ratio", doc)
        if max_symbols is not None:
            if text.count("#") / n > max_symbols:
                return "hash_ratio"
            if (text.count("...") + text.count("…")) / n > max_symbols:
                return "ellipsis_ratio"
        verdict = self._line_rules(text, at("max_bullet_lines_ratio", doc), at("max_ellipsis_lines_ratio", doc))
        if verdict is not True:
            return verdict
        min_alpha = at("min_alpha_words_ratio", doc)
        if min_alpha is not None:
            # As published: tokens with a letter / all tokens, punctuation tokens included.
            with_letter = n - count_letterless(text, words)
            if with_letter / (n + n_punct) < min_alpha:
                return "alpha_words"
        min_stop = at("min_stop_words", doc)
        if min_stop and english_rules_apply(doc, self._langs, cjk):
            pattern = self._stop_words_for(document_language(doc))
            if pattern is not None and _distinct(pattern, text, min_stop) < min_stop:
                return "stop_words"
        return True

    @staticmethod
    def _line_rules(text: str, max_bullets: Optional[float], max_ellipsis: Optional[float]) -> Verdict:
        if max_bullets is None and max_ellipsis is None:
            return True
        lines = text.splitlines() or [""]
        if max_bullets is not None:
            bullets = sum(1 for line in lines if line.lstrip().startswith(BULLETS))
            if bullets / len(lines) > max_bullets:
                return "bullet_lines"
        if max_ellipsis is not None:
            ellipsis = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
            if ellipsis / len(lines) > max_ellipsis:
                return "ellipsis_lines"
        return True


def _distinct(pattern: "re.Pattern", text: str, enough: int) -> int:
    """Distinct stop words in `text`, counting stops at `enough`."""
    found: set[str] = set()
    for match in pattern.finditer(text):
        found.add(match.group().lower())
        if len(found) >= enough:
            break
    return len(found)


@register
class GopherRepetition(Filter):
    """Gopher repetition rules: duplicate lines/paragraphs, top 2–4-gram and duplicate 5–10-gram character shares."""

    name = "gopher_repetition"
    per_language = table(GOPHER_REPETITION, "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
                         "top_ngram_min_count")
    param_bounds = {"dup_line_frac": (0, 1), "dup_para_frac": (0, 1), "dup_line_char_frac": (0, 1),
                    "dup_para_char_frac": (0, 1), "top_ngram_char_frac": (0, 1), "dup_ngram_char_frac": (0, 1),
                    "top_ngram_min_count": (0, None)}
    dup_line_frac: Optional[float] = 0.3
    dup_para_frac: Optional[float] = 0.3
    dup_line_char_frac: Optional[float] = 0.2
    dup_para_char_frac: Optional[float] = 0.2
    top_ngram_char_frac: dict[int, float] = {2: 0.2, 3: 0.18, 4: 0.16}
    dup_ngram_char_frac: dict[int, float] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    top_ngram_min_count: int = 1
    param_docs = {
        "dup_line_frac": "share of non-blank lines that repeat an earlier line above → dup_line_frac",
        "dup_para_frac": "share of paragraphs (split on blank lines) that repeat above → dup_para_frac",
        "dup_line_char_frac": "characters in repeated lines / all characters above → dup_line_char_frac",
        "dup_para_char_frac": "characters in repeated paragraphs / all characters above → dup_para_char_frac",
        "top_ngram_char_frac": "n → max share of characters in the most frequent word n-gram → top_<n>_gram",
        "dup_ngram_char_frac": "n → max share of characters in repeated word n-grams → dup_<n>_gram",
        "top_ngram_min_count": "1 = as published (a single n-gram of a short text counts); 2 = only repeated n-grams",
    }

    @classmethod
    def validate_params(cls, params: dict) -> None:
        for key in ("top_ngram_char_frac", "dup_ngram_char_frac"):
            by_lang = params[key].values() if cls.is_language_map(key, params[key]) else [params[key]]
            for grams in by_lang:
                if not isinstance(grams, dict) or any(int(n) < 1 for n in grams):
                    raise ValueError(f"{key}: n-gram sizes must be >= 1")

    def setup(self) -> None:
        self._grams: dict[int, list[tuple[int, float]]] = {}  # id of an n-gram mapping → its sorted rules

    def _rules(self, grams: dict) -> list[tuple[int, float]]:
        rules = self._grams.get(id(grams))
        if rules is None:
            rules = self._grams[id(grams)] = sorted((int(n), float(f)) for n, f in grams.items())
        return rules

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        total = len(text)
        if not text.strip():
            return True  # nothing repeats; emptiness is a length rule's business
        at = self.threshold
        paragraphs = _PARAGRAPH_RE.split(text.strip())
        n_dup, chars = duplicates(paragraphs)
        limit = at("dup_para_frac", doc)
        if limit is not None and n_dup / len(paragraphs) > limit:
            return "dup_para_frac"
        limit = at("dup_para_char_frac", doc)
        if limit is not None and chars / total > limit:
            return "dup_para_char_frac"
        lines = [line for line in text.split("\n") if line.strip()]
        n_dup, chars = duplicates(lines)
        limit = at("dup_line_frac", doc)
        if limit is not None and n_dup / len(lines) > limit:
            return "dup_line_frac"
        limit = at("dup_line_char_frac", doc)
        if limit is not None and chars / total > limit:
            return "dup_line_char_frac"
        top, dup = self._rules(at("top_ngram_char_frac", doc)), self._rules(at("dup_ngram_char_frac", doc))
        if not top and not dup:
            return True
        words = split_words(text)
        if len(words) < 2:
            return True
        grams = NgramIds(words, sep=0 if is_cjk(doc, text) else 1)
        min_count = at("top_ngram_min_count", doc)
        for n, frac in top:
            if grams.top_chars(n, min_count) / total > frac:
                return f"top_{n}_gram"
        for n, frac in dup:
            dup_chars = grams.duplicate_chars(n)
            if dup_chars / total > frac:
                return f"dup_{n}_gram"
            if dup_chars == 0:
                break  # no repeated n-gram means no repeated longer n-gram either
        return True
