"""How well a tokenizer compresses each source and language, and whether it is lossless.

Bytes per token (UTF-8) compare across scripts; characters per token (压缩率 for Chinese) is
what a reader of Chinese text expects. A document that does not survive
`decode(encode(x)) == x` means training would see text other than the corpus: it is an error.
WordPiece cannot round-trip (it drops whitespace and maps unseen characters to `[UNK]`), so
for it the report counts unknown tokens instead; any tokenizer with an unknown token (unigram,
wordpiece) gets that count.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Iterable

from tokenizers import Tokenizer

from operators.tokens._trainer import model_kind, round_trips, unk_token_of


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
    """Accumulates documents, characters, bytes, tokens and unknown tokens per (source, language)."""

    def __init__(self) -> None:
        self._acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.failures: list[dict] = []
        self.checked = 0
        self.round_trip_checked = True  # False once a tokenizer that cannot round-trip was measured
        self.unk_token: str | None = None
        self.failures_by_lang: Counter[str] = Counter()

    def add(self, tok: Tokenizer, docs: list[dict], batch_size: int = 256) -> None:
        lossless = round_trips(tok)
        unk = unk_token_of(tok)
        unk_id = tok.token_to_id(unk) if unk is not None else None
        if unk is not None:
            self.unk_token = unk
        if not lossless:
            self.round_trip_checked = False
        for start in range(0, len(docs), batch_size):
            chunk = docs[start:start + batch_size]
            texts = [d["text"] for d in chunk]
            encs = tok.encode_batch(texts, add_special_tokens=False)
            ids = [e.ids for e in encs]
            decoded = tok.decode_batch(ids, skip_special_tokens=False) if lossless else [None] * len(ids)
            for doc, text, tids, back in zip(chunk, texts, ids, decoded):
                acc = self._acc[(doc.get("source") or "", doc_lang(doc))]
                acc[0] += 1
                acc[1] += len(text)
                acc[2] += len(text.encode("utf-8"))
                acc[3] += len(tids)
                if unk_id is not None:
                    acc[4] += tids.count(unk_id)
                self.checked += 1
                if lossless and back != text:
                    self.failures_by_lang[doc_lang(doc)] += 1
                    self.failures.append({"id": doc.get("id"), "source": doc.get("source"),
                                          "first_difference": _first_diff(text, back)})

    def table(self, per_source: bool = True) -> list[dict]:
        """One row per (source, language), or per language with `per_source=False`."""
        acc: dict[tuple[str, str], list[int]] = self._acc
        if not per_source:
            acc = defaultdict(lambda: [0, 0, 0, 0, 0])
            for (_, lang), values in self._acc.items():
                acc[("", lang)] = [a + b for a, b in zip(acc[("", lang)], values)]
        rows = []
        for (source, lang), (docs, chars, nbytes, tokens, unk) in sorted(acc.items()):
            row = {"source": source, "lang": lang, "documents": docs, "chars": chars, "bytes": nbytes,
                   "tokens": tokens, "bytes_per_token": round(nbytes / tokens, 3) if tokens else None,
                   "chars_per_token": round(chars / tokens, 3) if tokens else None}
            if not per_source:
                del row["source"]
            if self.unk_token is not None:
                row["unk_tokens"] = unk
                row["unk_rate"] = round(unk / tokens, 6) if tokens else None
            rows.append(row)
        return rows

    def summary(self) -> dict:
        out = {"documents_checked": self.checked, "round_trip_failures": len(self.failures),
               "failures": self.failures[:20], "compression": self.table()}
        if not self.round_trip_checked:
            out["round_trip_checked"] = False  # wordpiece: see unk_rate instead
        if self.unk_token is not None:
            unk = sum(v[4] for v in self._acc.values())
            tokens = sum(v[3] for v in self._acc.values())
            out.update(unk_token=self.unk_token, unk_tokens=unk, unk_rate=round(unk / tokens, 6) if tokens else None)
        return out

    def raise_on_failure(self) -> None:
        if self.failures:
            ids = ", ".join(str(f["id"]) for f in self.failures[:5])
            raise RoundTripError(f"{len(self.failures)} of {self.checked} documents do not round-trip "
                                 f"(decode(encode(x)) != x), e.g. {ids}")


def compare_rows(tokenizers: list[tuple[str, Tokenizer]], docs: list[dict]) -> list[dict]:
    """One row per tokenizer and language on the same documents: bytes and characters per token,
    round-trip failures (None where the model cannot round-trip) and the unknown-token rate.
    A tokenizer's label is its name, else its model (bpe, unigram, wordpiece)."""
    rows = []
    for name, tok in tokenizers:
        report = CompressionReport()
        report.add(tok, docs)
        label = name or model_kind(tok)
        for row in report.table(per_source=False):
            rows.append({"model": label, "vocab_size": tok.get_vocab_size(with_added_tokens=True), **row,
                         "round_trip_failures": report.failures_by_lang[row["lang"]]
                         if report.round_trip_checked else None})
    return rows


def _first_diff(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def format_table(rows: Iterable[dict]) -> str:
    """Plain-text table (also used by the CLI): a `model` column when rows name one, an
    unknown-token column when the tokenizer has an unknown token."""
    rows = list(rows)
    model = any("model" in r for r in rows)
    source = any("source" in r for r in rows) or not rows
    unk = any("unk_rate" in r for r in rows)
    head = (f"{'model':<12} " if model else "") + (f"{'source':<24} " if source else "")
    lines = [head + f"{'lang':<6} {'docs':>8} {'tokens':>12} {'bytes/tok':>9} {'chars/tok':>9}" + (
        f" {'unk %':>7}" if unk else "")]
    for r in rows:
        line = (f"{r.get('model', ''):<12} " if model else "") + (f"{r.get('source', ''):<24} " if source else "")
        line += (f"{r['lang']:<6} {r['documents']:>8} {r['tokens']:>12} "
                 f"{r['bytes_per_token'] or 0:>9.3f} {r['chars_per_token'] or 0:>9.3f}")
        if unk:
            line += f" {100 * r['unk_rate']:>7.3f}" if r.get("unk_rate") is not None else f" {'-':>7}"
        lines.append(line)
    return "\n".join(lines)


def round_trip_line(summary: dict) -> str:
    """The CLI's last line: round-trip result, or the unknown-token rate where there is none."""
    if summary.get("round_trip_checked") is False:
        return (f"round trip: not applicable (wordpiece drops whitespace); unknown tokens "
                f"{summary.get('unk_tokens', 0)} ({100 * (summary.get('unk_rate') or 0):.3f} % of tokens) "
                f"in {summary['documents_checked']} documents")
    line = (f"round trip: {summary['documents_checked'] - summary['round_trip_failures']}/"
            f"{summary['documents_checked']} documents exact")
    if summary.get("unk_token") is not None:
        line += f"; unknown tokens {summary.get('unk_tokens', 0)}"
    return line
