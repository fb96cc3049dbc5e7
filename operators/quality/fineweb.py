"""FineWeb quality rules (Penedo et al. 2024, the FineWeb custom filters).

Published defaults: drop when ≤ 12 % of lines end in terminal punctuation, > 67 % of lines are
≤ 30 characters, ≥ 1 % of characters are in duplicated lines, or newlines / words > 0.3.
Terminal punctuation is FineWeb-2's published list (sentence terminators of many scripts, CJK
。！？ included, no quotes); `stop_chars` replaces it. Language-aware: words are CJK characters,
and a CJK line is short below `short_line_length_cjk` characters (a CJK character carries about
a word).
"""
from __future__ import annotations

from typing import Optional

from garden.operator import Doc, Filter, ParamError, Verdict
from garden.registry import register
from operators.quality._heur_ngrams import duplicates
from operators.quality._heur_text import is_cjk, split_tokens
from operators.quality._published import FINEWEB_STOP_CHARS
from operators.quality._thresholds import FINEWEB_QUALITY, table

CLOSING_QUOTES = "\"'”’」』"


@register
class FineWebQuality(Filter):
    """FineWeb rules: terminal-punctuation line share, short-line share, duplicated-line characters, list ratio."""

    name = "fineweb_quality"
    per_language = table(FINEWEB_QUALITY, "short_line_thr", "short_line_length", "short_line_length_cjk")
    param_bounds = {"line_punct_thr": (0, 1), "short_line_thr": (0, 1), "char_duplicates_ratio": (0, 1),
                    "new_line_ratio": (0, None), "short_line_length": (0, None), "short_line_length_cjk": (0, None)}
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: Optional[str] = None
    count_closing_quotes: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    short_line_length_cjk: int = 10
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3
    param_docs = {
        "line_punct_thr": "share of non-blank lines ending in terminal punctuation below → line_punct_ratio",
        "line_punct_exclude_zero": "do not drop documents with no such line at all",
        "stop_chars": "the characters a line must end in to count for line_punct_thr; null = FineWeb-2's "
                      "published list (159 sentence terminators: . ! ? 。 ！ ？ । ؟ ...; a closing quote or "
                      "an ellipsis does not count); the English FineWeb release used \".'\\\"!?\"",
        "count_closing_quotes": "also count a line ending in a closing quote (\" ' ” ’ 」 』) as terminated, "
                                "as Garden did before it followed FineWeb-2 (dialogue: 他说：“好。”)",
        "short_line_thr": "share of lines of ≤ short_line_length characters above → short_line_ratio",
        "short_line_length": "a line this long or shorter is short",
        "short_line_length_cjk": "the same for CJK documents (characters)",
        "char_duplicates_ratio": "characters in repeated lines / all characters above → char_dup_ratio",
        "new_line_ratio": "newlines per token (words and punctuation, as published) above → list_ratio",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        if params.get("stop_chars") == "":
            raise ParamError("stop_chars", "stop_chars is empty: no line could count as terminated; "
                                           "null means FineWeb-2's published list")

    def setup(self) -> None:
        ends = FINEWEB_STOP_CHARS if self.stop_chars is None else frozenset(self.stop_chars)
        self._ends = ends | frozenset(CLOSING_QUOTES) if self.count_closing_quotes else ends

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "empty"
        ends = self._ends
        ratio = sum(1 for line in lines if line[-1] in ends) / len(lines)
        if ratio < self.threshold("line_punct_thr", doc) and not (ratio == 0 and self.line_punct_exclude_zero):
            return "line_punct_ratio"
        short = self.threshold("short_line_length_cjk" if is_cjk(doc, text) else "short_line_length", doc)
        ratio = sum(1 for line in lines if len(line) <= short) / len(lines)
        if ratio > self.threshold("short_line_thr", doc):
            return "short_line_ratio"
        chars = len(text) - text.count("\n")
        if duplicates(lines)[1] / max(chars, 1) > self.threshold("char_duplicates_ratio", doc):
            return "char_dup_ratio"
        words, n_punct = split_tokens(text)  # as published: punctuation tokens count as words here
        if text.count("\n") / max(len(words) + n_punct, 1) > self.threshold("new_line_ratio", doc):
            return "list_ratio"
        return True
