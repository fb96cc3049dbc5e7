"""Test-set decontamination: drop documents sharing an n-token span with any evaluation text.

Evaluation sets are small, so each worker holds all their n-gram hashes as one sorted uint64
array (8 bytes per n-gram) and a document is checked with one vectorised look-up. Texts are
normalised (NFKC, casefold, punctuation and spacing ignored); each CJK character is a token,
so Chinese evaluation sets match by 13-character spans.
"""
from __future__ import annotations

import gzip
import json
import os
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from garden.hashing import token_hashes, window_hashes
from garden.io import fs
from garden.io.inputs import open_decompressed
from garden.operator import Doc, Filter, Verdict
from garden.registry import register
from garden.text import match_words as tokens

_SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".json.gz", ".jsonl", ".json", ".parquet", ".txt.gz", ".txt")


def ngram_hashes(toks: list[str], n: int, cache: dict[str, int]) -> np.ndarray:
    """One 64-bit hash per n-token window (polynomial over token hashes, the length first, then mixed)."""
    if len(toks) < n:
        return np.zeros(0, dtype=np.uint64)
    return window_hashes(token_hashes(toks, cache, 1_000_000), n, length_at="start")


def eval_set_name(path: str) -> str:
    base = os.path.basename(path)
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def read_eval_texts(path: str, fields: list[str]) -> Iterator[str]:
    """Texts of an evaluation file: jsonl/json(.gz/.zst) records, parquet rows, or plain text lines."""
    def record_texts(rec: dict) -> Iterable[str]:
        if fields:
            return [str(rec[f]) for f in fields if rec.get(f) is not None]
        if "text" in rec:
            return [str(rec["text"])]
        return [v for v in _strings(rec)]

    if path.endswith(".parquet"):
        for batch in fs.parquet_file(path).iter_batches(batch_size=4096):
            for rec in batch.to_pylist():
                yield from record_texts(rec)
        return
    is_json = ".json" in os.path.basename(path)
    with (gzip.GzipFile(fileobj=fs.open(path, "rb")) if path.endswith(".gz") else open_decompressed(path)) as raw:
        for line in raw:
            line = line.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            if is_json:
                rec = json.loads(line)
                yield from (record_texts(rec) if isinstance(rec, dict) else [str(rec)])
            else:
                yield line


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@register
class Decontaminate(Filter):
    """Drop documents that share a `ngram`-token span with any text of the given evaluation files."""

    name = "decontaminate"
    param_bounds = {"ngram": (1, 1000), "min_ngram": (1, 1000)}
    eval_files: list[str] = []
    ngram: int = 13
    min_ngram: int = 8
    fields: list[str] = []
    param_docs = {
        "eval_files": "evaluation files or globs: jsonl/json(.gz/.zst), parquet, or plain text (one item a line)",
        "ngram": "span length in tokens (words; each CJK character is one token)",
        "min_ngram": "an eval text shorter than `ngram` tokens but at least this long must appear whole; "
                     "shorter ones are ignored (too common to mean contamination)",
        "fields": "record fields holding eval text (default: 'text' if present, else every string field)",
    }
    reject_outputs = {"matched_eval": pa.string(), "matched_span": pa.string()}

    @staticmethod
    def validate_params(params: dict) -> None:
        if not params["eval_files"]:
            raise ValueError("eval_files is required")
        if params["ngram"] < 1 or not 1 <= params["min_ngram"] <= params["ngram"]:
            raise ValueError("need 1 ≤ min_ngram ≤ ngram")
        for pattern in params["eval_files"]:
            if not _expand(pattern):
                raise ValueError(f"eval file not found: {pattern}")

    def setup(self) -> None:
        self._cache: dict[str, int] = {}
        self._names: list[str] = []
        hashes, owners = [], []
        lengths = {self.ngram}
        paths = [p for pattern in self.eval_files for p in _expand(pattern)]
        for k, path in enumerate(paths):
            self._names.append(eval_set_name(path))
            for text in read_eval_texts(path, self.fields):
                toks = tokens(text)
                if len(toks) < self.min_ngram:
                    continue
                n = min(self.ngram, len(toks))  # a short item must appear whole
                lengths.add(n)
                h = ngram_hashes(toks, n, self._cache)
                hashes.append(h)
                owners.append(np.full(len(h), k, dtype=np.int32))
        self._lengths = sorted(lengths, reverse=True)
        all_h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        all_o = np.concatenate(owners) if owners else np.zeros(0, np.int32)
        order = np.lexsort((all_o, all_h))  # by hash, the first eval file first
        all_h, all_o = all_h[order], all_o[order]
        first = np.ones(len(all_h), dtype=bool)
        first[1:] = all_h[1:] != all_h[:-1]
        self._hashes, self._owner = all_h[first], all_o[first]

    def keep(self, doc: Doc) -> Verdict:
        if not len(self._hashes):
            return True
        toks = tokens(doc["text"])
        best, span = None, ""
        for n in self._lengths:
            h = ngram_hashes(toks, n, self._cache)
            if not len(h):
                continue
            pos = np.minimum(np.searchsorted(self._hashes, h), len(self._hashes) - 1)
            hit = np.flatnonzero(self._hashes[pos] == h)
            if len(hit):
                owners = self._owner[pos[hit]]
                k = int(owners.min())
                if best is None or k < best:
                    at = int(hit[int(np.argmax(owners == k))])
                    best, span = k, " ".join(toks[at:at + n])
        if best is None:
            return True
        doc["matched_eval"] = self._names[best]
        doc["matched_span"] = span
        return f"contaminated:{self._names[best]}"


def _expand(pattern: str) -> list[str]:
    if any(ch in pattern for ch in "*?["):
        return fs.glob(pattern)
    return [pattern] if fs.exists(pattern) else []
