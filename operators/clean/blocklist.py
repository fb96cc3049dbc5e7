"""Drop or annotate documents that contain listed words/phrases or come from listed URLs/domains."""
from __future__ import annotations

import json
import os
from typing import Literal, Optional
from urllib.parse import urlsplit

import pyarrow as pa
import regex

from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from garden.text import CJK_CHAR_RE as _HAS_CJK

# A listed term must not be glued to other letters/digits: "ass" does not match "class".
# A term written in CJK has no word boundaries to respect and matches as a substring.
_BEFORE = r"(?<![\p{L}\p{N}_])"
_AFTER = r"(?![\p{L}\p{N}_])"


def read_list(path: str) -> list[str]:
    """One entry per line; blank lines and lines starting with # are ignored."""
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]


def _trie_pattern(terms: list[str]) -> str:
    """A regex alternation shaped as a prefix trie: thousands of terms cost one pass, not one per term."""
    trie: dict = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        branches = [regex.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return build(trie)


def compile_terms(terms: list[str]) -> Optional[regex.Pattern]:
    """One case-insensitive pattern: word-boundary-aware for alphabetic terms, substring for CJK terms."""
    folded = sorted({" ".join(t.casefold().split()) for t in terms if t.strip()})
    if not folded:
        return None
    cjk = [t for t in folded if _HAS_CJK.search(t)]
    words = [t for t in folded if not _HAS_CJK.search(t)]
    parts = []
    if words:
        parts.append(f"{_BEFORE}{_trie_pattern(words)}{_AFTER}")
    if cjk:
        parts.append(_trie_pattern(cjk))
    return regex.compile("|".join(parts), regex.IGNORECASE)


def _normalise_text(text: str) -> str:
    return regex.sub(r"\s+", " ", text.casefold())


def host_of(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


class UrlMatcher:
    """Domains match themselves and their subdomains; entries with a path match as URL prefixes."""

    def __init__(self, entries: list[str]) -> None:
        self.domains: set[str] = set()
        self.prefixes: list[str] = []
        for entry in entries:
            bare = entry.strip().lower().split("://", 1)[-1]
            if "/" in bare.rstrip("/"):
                self.prefixes.append(bare.removeprefix("www."))
            elif bare.rstrip("/"):
                self.domains.add(bare.rstrip("/").lstrip("*.").removeprefix("www."))

    def match(self, url: str) -> Optional[str]:
        host = host_of(url)
        if host:
            labels = host.split(".")
            for i in range(len(labels) - 1):
                candidate = ".".join(labels[i:])
                if candidate in self.domains:
                    return candidate
        bare = url.strip().lower().split("://", 1)[-1].removeprefix("www.")
        for prefix in self.prefixes:
            if bare.startswith(prefix):
                return prefix
        return None


@register
class Blocklist(Filter):
    """Drop (or annotate) documents with at least `min_count` listed words/phrases, or from a listed URL/domain.

    Alphabetic terms match whole words only ("ass" does not match "class"), case-insensitively,
    with any whitespace between the words of a phrase. Terms in Chinese/Japanese/Korean match
    as substrings (those scripts have no word boundaries). The URL is read from the input
    record's field `url_field` (a dotted path into meta); domains also block their subdomains.
    """

    name = "blocklist"
    param_bounds = {"min_count": (1, None)}
    words: list[str] = []
    words_file: Optional[str] = None
    urls: list[str] = []
    urls_file: Optional[str] = None
    url_field: str = "url"
    min_count: int = 1
    mode: Literal["drop", "annotate"] = "drop"
    outputs = {"blocklist_hits": pa.int32(), "blocklist_match": pa.string()}
    param_docs = {
        "words": "words/phrases, inline",
        "words_file": "file with one word/phrase per line (# comments)",
        "urls": "domains (example.com, blocks subdomains) or URL prefixes (example.com/ads/), inline",
        "urls_file": "file with one domain/URL prefix per line",
        "url_field": "meta field (dotted path) holding the document's URL",
        "min_count": "drop when at least this many word/phrase occurrences are found",
        "mode": "drop | annotate (keep everything, fill blocklist_hits and blocklist_match)",
    }

    @staticmethod
    def validate_params(params: dict) -> None:
        for key in ("words_file", "urls_file"):
            if params[key] and not os.path.exists(params[key]):
                raise ValueError(f"{key} not found: {params[key]}")
        if params["min_count"] < 1:
            raise ValueError("min_count must be at least 1")
        if not (params["words"] or params["words_file"] or params["urls"] or params["urls_file"]):
            raise ValueError("give words, words_file, urls or urls_file")

    def setup(self) -> None:
        terms = list(self.words) + (read_list(self.words_file) if self.words_file else [])
        self._pattern = compile_terms(terms)
        entries = list(self.urls) + (read_list(self.urls_file) if self.urls_file else [])
        self._urls = UrlMatcher(entries) if entries else None
        self._path = self.url_field.split(".")

    def _url(self, doc: Doc) -> str:
        value = json.loads(doc.get("meta") or "{}")
        for part in self._path:
            if not isinstance(value, dict) or part not in value:
                return ""
            value = value[part]
        return value if isinstance(value, str) else ""

    def keep(self, doc: Doc) -> Verdict:
        hits: list[str] = []
        if self._pattern is not None and doc["text"]:
            hits = self._pattern.findall(_normalise_text(doc["text"]))
        url_hit = self._urls.match(url) if self._urls and (url := self._url(doc)) else None
        doc["blocklist_hits"] = len(hits)
        shown = sorted(set(hits))[:10]
        doc["blocklist_match"] = ("url:" + url_hit) if url_hit else ",".join(shown)
        if self.mode == "annotate":
            return True
        if url_hit:
            return "url"
        return "words" if len(hits) >= self.min_count else True
