"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A).

Defaults are the published thresholds. Words are language-aware (garden.text.words: each CJK
character is a word), so Chinese and Japanese are not judged by whitespace; rules that only
make sense for English (stop words, mean word length) are skipped for CJK documents.
"""
from __future__ import annotations

import re
from typing import Optional


from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from operators.quality._heur_ngrams import NgramIds, duplicates
from operators.quality._heur_text import count_letterless, english_rules_apply, is_cjk, spaced_words, split_tokens, split_words

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
BULLETS = ("•", "-", "*", "‣", "◦", "●", "▪", "·")
_PARAGRAPH_RE = re.compile(r"\n{2,}")


@register
class GopherQuality(Filter):
    """Gopher quality rules: word count, mean word length, symbol ratios, bullets, alphabetic words, stop words."""

    name = "gopher_quality"
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
    stop_words_langs: list[str] = ["en"]
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
        "stop_words": "the stop-word list (Gopher's English list by default)",
        "stop_words_langs": "languages the stop-word rule applies to (by `lang`; without it: non-CJK text)",
    }

    def setup(self) -> None:
        alternatives = "|".join(sorted((re.escape(w) for w in self.stop_words), key=len, reverse=True))
        self._stop_re = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if alternatives else None
        self._langs = [lang.lower() for lang in self.stop_words_langs]

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        cjk = is_cjk(doc, text)
        words, n_punct = split_tokens(text)
        n = len(words)
        if self.min_doc_words is not None and n < self.min_doc_words:
            return "min_doc_words"
        if self.max_doc_words is not None and n > self.max_doc_words:
            return "max_doc_words"
        if n == 0:
            return True
        spaced = spaced_words(text, words) if not cjk else []  # CJK characters have no word length to judge
        if spaced and (self.min_mean_word_length is not None or self.max_mean_word_length is not None):
            mean = sum(map(len, spaced)) / len(spaced)
            if self.min_mean_word_length is not None and mean < self.min_mean_word_length:
                return "mean_word_length"
            if self.max_mean_word_length is not None and mean > self.max_mean_word_length:
                return "mean_word_length"
        if self.max_symbol_word_ratio is not None:
            if text.count("#") / n > self.max_symbol_word_ratio:
                return "hash_ratio"
            if (text.count("...") + text.count("…")) / n > self.max_symbol_word_ratio:
                return "ellipsis_ratio"
        verdict = self._line_rules(text)
        if verdict is not True:
            return verdict
        if self.min_alpha_words_ratio is not None:
            # As published: tokens with a letter / all tokens, punctuation tokens included.
            with_letter = n - count_letterless(text, words)
            if with_letter / (n + n_punct) < self.min_alpha_words_ratio:
                return "alpha_words"
        if self.min_stop_words and self._stop_re is not None and english_rules_apply(doc, self._langs, cjk):
            if self._distinct_stop_words(text) < self.min_stop_words:
                return "stop_words"
        return True

    def _line_rules(self, text: str) -> Verdict:
        if self.max_bullet_lines_ratio is None and self.max_ellipsis_lines_ratio is None:
            return True
        lines = text.splitlines() or [""]
        if self.max_bullet_lines_ratio is not None:
            bullets = sum(1 for line in lines if line.lstrip().startswith(BULLETS))
            if bullets / len(lines) > self.max_bullet_lines_ratio:
                return "bullet_lines"
        if self.max_ellipsis_lines_ratio is not None:
            ellipsis = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
            if ellipsis / len(lines) > self.max_ellipsis_lines_ratio:
                return "ellipsis_lines"
        return True

    def _distinct_stop_words(self, text: str) -> int:
        found: set[str] = set()
        for match in self._stop_re.finditer(text):
            found.add(match.group().lower())
            if len(found) >= self.min_stop_words:
                break
        return len(found)


@register
class GopherRepetition(Filter):
    """Gopher repetition rules: duplicate lines/paragraphs, top 2–4-gram and duplicate 5–10-gram character shares."""

    name = "gopher_repetition"
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

    @staticmethod
    def validate_params(params: dict) -> None:
        for key in ("top_ngram_char_frac", "dup_ngram_char_frac"):
            if any(int(n) < 1 for n in params[key]):
                raise ValueError(f"{key}: n-gram sizes must be >= 1")

    def setup(self) -> None:
        self._top = sorted((int(n), float(f)) for n, f in self.top_ngram_char_frac.items())
        self._dup = sorted((int(n), float(f)) for n, f in self.dup_ngram_char_frac.items())

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        total = len(text)
        if not text.strip():
            return True  # nothing repeats; emptiness is a length rule's business
        paragraphs = _PARAGRAPH_RE.split(text.strip())
        n_dup, chars = duplicates(paragraphs)
        if self.dup_para_frac is not None and n_dup / len(paragraphs) > self.dup_para_frac:
            return "dup_para_frac"
        if self.dup_para_char_frac is not None and chars / total > self.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = [line for line in text.split("\n") if line.strip()]
        n_dup, chars = duplicates(lines)
        if self.dup_line_frac is not None and n_dup / len(lines) > self.dup_line_frac:
            return "dup_line_frac"
        if self.dup_line_char_frac is not None and chars / total > self.dup_line_char_frac:
            return "dup_line_char_frac"
        if not self._top and not self._dup:
            return True
        words = split_words(text)
        if len(words) < 2:
            return True
        grams = NgramIds(words, sep=0 if is_cjk(doc, text) else 1)
        for n, frac in self._top:
            if grams.top_chars(n, self.top_ngram_min_count) / total > frac:
                return f"top_{n}_gram"
        for n, frac in self._dup:
            dup_chars = grams.duplicate_chars(n)
            if dup_chars / total > frac:
                return f"dup_{n}_gram"
            if dup_chars == 0:
                break  # no repeated n-gram means no repeated longer n-gram either
        return True
