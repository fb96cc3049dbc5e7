"""Clean Chinese paragraphs from the repo's corpora, and the same paragraphs corrupted.

Used by bench/bench_zh_filters.py (and to build recipes/data/demo-zh). A clean paragraph is
consecutive sentences of one document (a man page, a kernel document, a handbook chapter)
joined until it holds at least 200 characters. A sentence is kept when it ends in 。！？, is
mostly Han characters, does not start like a list item (- • *) and carries no markup (roff
escapes, reStructuredText roles, table rules); a rejected sentence ends the run, so every paragraph is contiguous text.

Corruptions (deterministic, seeded by the paragraph's index):
- ``repeated_lines``: every line of the paragraph appears twice in a row;
- ``short_lines``: punctuation removed and the text broken into lines of 6–15 characters;
- ``symbol_noise``: a run of 1–3 symbols (# * @ ■ ★ ...) after every 2–5 characters (not after
  the last, so the text still ends in its full stop).
"""
from __future__ import annotations

import gzip
import json
import os
import random
from typing import Iterator

import regex

CORPORA = "/work/shared/corpora"
SOURCES = ("zh_manpages", "zh_linux_doc_rst", "multi_debian_handbook_paragraphs")
MIN_CHARS = 200
_SENTENCE_END_RE = regex.compile(r"[。！？]+[”’」』）]*")
_BULLET_START = ("-", "•", "*", "·", "‣", "◦", "●", "▪")
_MARKUP_RE = regex.compile(r"[`|\\*_=<>{}\[\]#~^]|::|\.\.|\bhttps?:")
_HAN_RE = regex.compile(r"\p{Han}")
_LETTER_RE = regex.compile(r"\p{L}")
_CJK_EDGE_RE = regex.compile(r"(?<=[\p{Han}，。、；：！？”’）])\n(?=[\p{Han}“‘（])")
_PUNCT_RE = regex.compile(r"[\p{P}\p{S}]+")
SYMBOLS = "#*@&%$~^|<>=+■□▲△★☆●○◆◇※§¤"
CORRUPTIONS = ("repeated_lines", "short_lines", "symbol_noise")


def _documents(name: str) -> Iterator[tuple[str, str]]:
    with gzip.open(os.path.join(CORPORA, f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if str(doc.get("lang", "")).lower().startswith("zh"):
                yield doc["id"], doc["text"]


def _handbook_articles() -> Iterator[tuple[str, str]]:
    """Handbook paragraphs grouped into their page (`page.html#pN`): one article per page and language."""
    pages: dict[str, list[str]] = {}
    for doc_id, text in _documents("multi_debian_handbook_paragraphs"):
        pages.setdefault(doc_id.split("#", 1)[0], []).append(text)
    for page, texts in pages.items():
        yield page, "\n\n".join(texts)


def _good_sentence(sentence: str) -> bool:
    if not 8 <= len(sentence) <= 300 or sentence.startswith(_BULLET_START) or _MARKUP_RE.search(sentence):
        return False
    letters = len(_LETTER_RE.findall(sentence))
    return letters > 0 and len(_HAN_RE.findall(sentence)) / letters >= 0.6


def _sentences(block: str) -> Iterator[str]:
    """Pieces of `block` that end in 。！？ (with closing quotes); a tail without one is left out."""
    start = 0
    for match in _SENTENCE_END_RE.finditer(block):
        yield block[start:match.end()].strip()
        start = match.end()


def paragraphs_of(text: str) -> list[str]:
    """Clean paragraphs (≥ MIN_CHARS) of one document, in order."""
    out: list[str] = []
    for block in regex.split(r"\n\s*\n", text):
        block = _CJK_EDGE_RE.sub("", block.strip())  # wrapped Chinese lines join without a space
        block = regex.sub(r"\s*\n\s*", " ", block)
        current: list[str] = []
        for sentence in _sentences(block):
            if not _good_sentence(sentence):
                current = []
                continue
            current.append(sentence)
            if sum(map(len, current)) >= MIN_CHARS:
                out.append("".join(current))
                current = []
    return out


def clean_paragraphs(per_source: int, seed: int = 0) -> list[dict]:
    """Up to `per_source` paragraphs from each source, sampled with `seed`: {id, text, lang, source}."""
    rng = random.Random(seed)
    out: list[dict] = []
    for name in SOURCES:
        docs = _handbook_articles() if name == "multi_debian_handbook_paragraphs" else _documents(name)
        found = [(doc_id, i, p) for doc_id, text in docs for i, p in enumerate(paragraphs_of(text))]
        rng.shuffle(found)
        for doc_id, i, p in sorted(found[:per_source]):
            out.append({"id": f"{doc_id}:p{i}", "text": p, "lang": "zh", "source": name})
    return out


def corrupt(text: str, kind: str, seed: int) -> str:
    rng = random.Random(seed)
    if kind == "repeated_lines":
        return "\n".join(line for line in text.split("\n") for _ in range(2))
    if kind == "short_lines":
        flat = _PUNCT_RE.sub("", text.replace("\n", ""))
        lines, i = [], 0
        while i < len(flat):
            n = rng.randint(6, 15)
            lines.append(flat[i:i + n].strip())
            i += n
        return "\n".join(line for line in lines if line)
    if kind == "symbol_noise":
        out, i = [], 0
        while i < len(text):
            n = rng.randint(2, 5)
            out.append(text[i:i + n])
            i += n
            if i < len(text):  # between characters only: the paragraph still ends in its 。
                out.append("".join(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 3))))
        return "".join(out)
    raise ValueError(f"unknown corruption {kind!r}")
