"""C4 document rules (Raffel et al. 2020, section 2.2, and the released c4_utils.py).

`c4_quality` decides keep/drop the way C4 does: it walks the lines C4 would keep (terminal
punctuation, ≥ 3 words, no javascript/policy lines, no overlong words) and drops the page for
lorem ipsum, a curly bracket or fewer than 5 sentences in the kept lines. It does not rewrite
the text: the line cleanup itself is the `line_filter` mapper, so each step stays traceable.
Sentences are split per language by garden.sentences (C4 used NLTK punkt), and only as far as
the rule needs: every kept line holds a sentence, so a page with 5 kept lines is never split.
"""
from __future__ import annotations

import regex

from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from garden.sentences import count_sentences  # noqa: F401  (also C4's sentence count for callers)
from operators.quality._heur_text import ends_sentence, enough_line_words, lang_of
from operators.quality._thresholds import C4_QUALITY, table

CITATION_RE = regex.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", regex.IGNORECASE)
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def enough_sentences(lines: list[str], lang: str, minimum: int) -> bool:
    """At least `minimum` sentences in `lines` (non-blank), splitting as few lines as possible.

    Each line holds at least one sentence, so lines are split only while the lines not yet
    split could not make up the rest: at most minimum - 1 splits, none when len(lines) >= minimum.
    The answer is the one a full count would give.
    """
    if len(lines) >= minimum:
        return True
    total = 0
    for i, line in enumerate(lines):
        total += count_sentences(line, lang)
        if total + len(lines) - i - 1 >= minimum:
            return True
    return False


@register
class C4Quality(Filter):
    """C4 page rules: lorem ipsum, curly bracket, too few sentences in the lines C4 keeps."""

    name = "c4_quality"
    per_language = table(C4_QUALITY)
    param_bounds = {"min_num_sentences": (0, None), "min_words_per_line": (0, None), "max_word_length": (0, None)}
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    remove_citations: bool = True
    param_docs = {
        "filter_no_terminal_punct": "lines not ending in terminal punctuation are not kept: C4's . ! ? \" ' plus "
                                    "every Unicode sentence terminator (。！？ । ؟ ...) and the closing quotes ” ’ 」 』; "
                                    "a line ending in an ellipsis (... or …) is not kept",
        "min_num_sentences": "fewer sentences in kept lines → too_few_sentences (0 disables); sentences as "
                             "sentencex splits them for the document's `lang` (abbreviations such as Dr. or "
                             "p.m. do not end one; 。！？ do), English rules when `lang` is unknown",
        "min_words_per_line": "lines with fewer words are not kept (CJK characters count as words)",
        "max_word_length": "lines with a longer whitespace token are not kept (0 disables)",
        "filter_lorem_ipsum": "a kept line containing 'lorem ipsum' → lorem_ipsum",
        "filter_javascript": "lines mentioning javascript are not kept",
        "filter_curly_bracket": "a kept line containing '{' → curly_bracket",
        "filter_policy": "lines with cookie/terms/privacy-policy phrases are not kept",
        "remove_citations": "strip [1], [edit], [citation needed] before judging a line",
    }

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"]
        max_word_length = self.threshold("max_word_length", doc)
        min_words_per_line = self.threshold("min_words_per_line", doc)
        kept: list[str] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            tokens = line.split()
            if max_word_length > 0 and any(len(t) > max_word_length for t in tokens):
                continue
            if self.remove_citations and "[" in line:
                line = CITATION_RE.sub("", line)
            if self.filter_no_terminal_punct and not ends_sentence(line):
                continue
            if not enough_line_words(line, tokens, min_words_per_line):
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                return "curly_bracket"
            if self.filter_policy and any(p in lower for p in POLICY_PHRASES):
                continue
            if line.strip():  # citations removed, nothing may be left
                kept.append(line)
        if not enough_sentences(kept, lang_of(doc), self.threshold("min_num_sentences", doc)):
            return "too_few_sentences"
        return True
