"""C4-style line cleanup (Raffel et al. 2020): remove boilerplate lines, keep the document.

A mapper, not a filter: it rewrites `text` without the lines that fail a rule and records how
many it removed in `lines_removed`. Blank lines stay (paragraph structure), runs of them are
collapsed. A document whose lines all go keeps an empty text; follow with `length_filter` to
drop those, so the drop is traced with its own reason.
"""
from __future__ import annotations

import re

import pyarrow as pa
import regex

from garden.operator import Doc, Mapper
from garden.registry import register
from operators.quality._heur_text import ends_sentence, enough_line_words
from operators.quality._thresholds import LINE_FILTER, table
from operators.quality.c4 import CITATION_RE, POLICY_PHRASES

_HAS_LETTER_OR_DIGIT_RE = regex.compile(r"[\p{L}\p{N}]")
_BLANK_RUNS_RE = re.compile(r"\n{3,}")


@register
class LineFilter(Mapper):
    """Remove lines C4 would not keep: no terminal punctuation, javascript, cookie/policy notes, lorem ipsum, short, symbol-only."""

    name = "line_filter"
    per_language = table(LINE_FILTER)
    param_bounds = {"min_words": (0, None), "max_word_length": (0, None)}
    outputs = {"lines_removed": pa.int32()}
    terminal_punct: bool = True
    javascript: bool = True
    policy: bool = True
    lorem_ipsum: bool = True
    min_words: int = 3
    symbols_only: bool = True
    max_word_length: int = 1000
    remove_citations: bool = False
    policy_phrases: list[str] = list(POLICY_PHRASES)
    param_docs = {
        "terminal_punct": "remove lines not ending in . ! ? \" ' (or 。！？ and other scripts' full stops); an ellipsis does not count",
        "javascript": "remove lines mentioning javascript (\"enable JavaScript\" notices)",
        "policy": "remove lines containing a policy phrase (cookies, terms of use, privacy policy)",
        "lorem_ipsum": "remove lines containing 'lorem ipsum' placeholder text",
        "min_words": "remove lines with fewer words (CJK characters count as words); 0 keeps all",
        "symbols_only": "remove lines with no letter or digit (rules, separators, '* * *')",
        "max_word_length": "remove lines with a whitespace token longer than this; 0 disables",
        "remove_citations": "strip [1], [edit], [citation needed] markers (off: it also hits code like a[0])",
        "policy_phrases": "the phrases for `policy`, matched case-insensitively",
    }

    def setup(self) -> None:
        self._phrases = tuple(p.lower() for p in self.policy_phrases)

    def map(self, doc: Doc) -> Doc:
        text = doc["text"]
        if not text:
            doc["lines_removed"] = 0
            return doc
        min_words, max_word_length = self.threshold("min_words", doc), self.threshold("max_word_length", doc)
        kept: list[str] = []
        removed = 0
        edited = False
        for raw in text.split("\n"):
            line = raw.strip()
            if not line:
                kept.append("")
                continue
            if self.remove_citations and "[" in line:
                cleaned = CITATION_RE.sub("", line).strip()
                if cleaned != line:
                    line = raw = cleaned
                    edited = True
            if line and self._keep_line(line, min_words, max_word_length):
                kept.append(raw.rstrip())
            else:
                removed += 1
        if removed or edited:
            text = _BLANK_RUNS_RE.sub("\n\n", "\n".join(kept)).strip()
        doc["text"] = text
        doc["lines_removed"] = removed
        return doc

    def _keep_line(self, line: str, min_words: int, max_word_length: int) -> bool:
        if self.symbols_only and not _HAS_LETTER_OR_DIGIT_RE.search(line):
            return False
        if self.terminal_punct and not ends_sentence(line):
            return False
        tokens = line.split()
        if max_word_length > 0 and any(len(t) > max_word_length for t in tokens):
            return False
        if min_words > 0 and not enough_line_words(line, tokens, min_words):
            return False
        lower = line.lower()
        if self.javascript and "javascript" in lower:
            return False
        if self.lorem_ipsum and "lorem ipsum" in lower:
            return False
        if self.policy and any(p in lower for p in self._phrases):
            return False
        return True
