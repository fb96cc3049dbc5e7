"""mC4's paragraph rule (Xue et al. 2021; `paragraph_filter` in the released c4_utils.py).

A page is kept when at least 3 of its lines ("paragraphs") are 200 characters or longer.
As published: lines are cut at "\\n" only, and a line's length is its character count with its
spaces (nothing is stripped). mC4 applied the same 200 characters to every language, CJK
included. A filter of its own, not a `c4_quality` option: mC4 ran it beside C4's page rules.
"""
from __future__ import annotations

from garden.operator import Doc, Filter, Verdict
from garden.registry import register


@register
class C4Paragraph(Filter):
    """mC4 paragraph rule: keep pages with at least 3 lines of 200 or more characters."""

    name = "c4_paragraph"
    param_bounds = {"min_paragraphs": (1, None), "min_paragraph_chars": (1, None)}
    min_paragraphs: int = 3
    min_paragraph_chars: int = 200
    param_docs = {
        "min_paragraphs": "fewer long lines than this → too_few_paragraphs",
        "min_paragraph_chars": "a line (cut at \\n, not stripped) this long or longer, in characters, is a paragraph",
    }

    def keep(self, doc: Doc) -> Verdict:
        text = doc["text"] or ""
        if len(text) < self.min_paragraphs * self.min_paragraph_chars:
            return "too_few_paragraphs"  # cannot hold enough long lines
        found = 0
        for line in text.split("\n"):
            if len(line) >= self.min_paragraph_chars:
                found += 1
                if found >= self.min_paragraphs:
                    return True
        return "too_few_paragraphs"
