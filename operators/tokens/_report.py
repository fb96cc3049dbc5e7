"""How well a tokenizer compresses each source and language, and whether it is lossless.

Bytes per token (UTF-8) compare across scripts; characters per token (压缩率 for Chinese) is
what a reader of Chinese text expects. A document that does not survive
`decode(encode(x)) == x` means training would see text other than the corpus: it is an error.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Iterable

from tokenizers import Tokenizer


class RoundTripError(ValueError):
    """Some documents do not decode back to their text."""


def doc_lang(doc: dict) -> str:
    """The `lang` annotation if an operator set one, else the input's own `lang` field, else 'und'."""
    lang = doc.get("lang")
    if lang:
        return str(lang)
    try:
        meta = json.loads(doc.get("meta") or "{}")
    except (TypeError, ValueError):
        return "und"
    value = meta.get("lang") if isinstance(meta, dict) else None
    return str(value) if value else "und"


class CompressionReport:
    """Accumulates documents, characters, bytes and tokens per (source, language)."""

    def __init__(self) -> None:
        self._acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.failures: list[dict] = []
        self.checked = 0

    def add(self, tok: Tokenizer, docs: list[dict], batch_size: int = 256) -> None:
        for start in range(0, len(docs), batch_size):
            chunk = docs[start:start + batch_size]
            texts = [d["text"] for d in chunk]
            encs = tok.encode_batch(texts, add_special_tokens=False)
            ids = [e.ids for e in encs]
            decoded = tok.decode_batch(ids, skip_special_tokens=False)
            for doc, text, tids, back in zip(chunk, texts, ids, decoded):
                acc = self._acc[(doc.get("source") or "", doc_lang(doc))]
                acc[0] += 1
                acc[1] += len(text)
                acc[2] += len(text.encode("utf-8"))
                acc[3] += len(tids)
                self.checked += 1
                if back != text:
                    self.failures.append({"id": doc.get("id"), "source": doc.get("source"),
                                          "first_difference": _first_diff(text, back)})

    def table(self) -> list[dict]:
        rows = []
        for (source, lang), (docs, chars, nbytes, tokens) in sorted(self._acc.items()):
            rows.append({"source": source, "lang": lang, "documents": docs, "chars": chars, "bytes": nbytes,
                         "tokens": tokens, "bytes_per_token": round(nbytes / tokens, 3) if tokens else None,
                         "chars_per_token": round(chars / tokens, 3) if tokens else None})
        return rows

    def summary(self) -> dict:
        return {"documents_checked": self.checked, "round_trip_failures": len(self.failures),
                "failures": self.failures[:20], "compression": self.table()}

    def raise_on_failure(self) -> None:
        if self.failures:
            ids = ", ".join(str(f["id"]) for f in self.failures[:5])
            raise RoundTripError(f"{len(self.failures)} of {self.checked} documents do not round-trip "
                                 f"(decode(encode(x)) != x), e.g. {ids}")


def _first_diff(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def format_table(rows: Iterable[dict]) -> str:
    """Plain-text table (also used by the CLI)."""
    lines = [f"{'source':<24} {'lang':<6} {'docs':>8} {'tokens':>12} {'bytes/tok':>9} {'chars/tok':>9}"]
    for r in rows:
        lines.append(f"{r['source']:<24} {r['lang']:<6} {r['documents']:>8} {r['tokens']:>12} "
                     f"{r['bytes_per_token'] or 0:>9.3f} {r['chars_per_token'] or 0:>9.3f}")
    return "\n".join(lines)
