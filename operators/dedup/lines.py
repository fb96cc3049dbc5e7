"""Remove lines, paragraphs or 3-sentence spans that repeat across many documents (boilerplate).

    scan      per shard: one row per distinct unit hash of each document, partitioned by hash
    reduce    per partition: documents per hash; hashes in more than `max_docs` documents are frequent
    finalize  driver: the frequent hashes as one sorted array (small: boilerplate is rare by count)
    apply     per shard: rewrite each document without its frequent units; annotate how many went

Units are compared after NFKC, casefolding and whitespace collapsing, hashed exactly (64-bit),
and counted once per document, so a line repeated inside one page is not boilerplate by itself.
"""
from __future__ import annotations

from typing import ClassVar, Iterator, Literal

import numpy as np
import pyarrow as pa
import regex

from garden.hashing import hash64
from garden.io import fs
from garden.operator import Doc, GlobalOp, StageContext, Verdict
from garden.registry import register
from garden.shuffle import reduce_files
from garden.text import normalize_key

PARTITION_BITS = 5
PARAGRAPH_SPLIT = regex.compile(r"(\n[^\S\n]*\n\s*)")
# Sentence ends: . ! ? followed by space (English-like), or CJK full stops with or without space.
SENTENCE_END = regex.compile(r"(?<=[.!?])\s+(?=\S)|(?<=[。！？；])")


def split_units(text: str, unit: str) -> list[tuple[str, str]]:
    """(unit, separator that followed it) pairs; joining them gives the text back exactly."""
    if unit == "line":
        parts = text.split("\n")
        return [(p, "\n") for p in parts[:-1]] + [(parts[-1], "")]
    if unit == "paragraph":
        pieces = PARAGRAPH_SPLIT.split(text)
        return [(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else "") for i in range(0, len(pieces), 2)]
    # sentences3: C4's three-sentence spans, within each line
    out: list[tuple[str, str]] = []
    lines = text.split("\n")
    for li, line in enumerate(lines):
        sents, seps = [], []
        pos = 0
        for m in SENTENCE_END.finditer(line):
            if m.end() == 0 or m.start() <= pos and m.end() == pos:
                continue
            sents.append(line[pos:m.start()])
            seps.append(m.group(0))
            pos = m.end()
        sents.append(line[pos:])
        seps.append("")
        for k in range(0, len(sents), 3):
            span = "".join(s + sep for s, sep in zip(sents[k:k + 3], seps[k:k + 3]))
            trail = len(span) - len(span.rstrip())
            out.append((span[:len(span) - trail] if trail else span, span[len(span) - trail:] if trail else ""))
        if li < len(lines) - 1:
            body, sep = out[-1]
            out[-1] = (body, sep + "\n")
    return out


def unit_hash(unit: str, min_chars: int) -> int | None:
    """64-bit hash of the normalised unit; None for units too short to count."""
    key = normalize_key(unit)
    if len(key) < min_chars:
        return None
    return hash64(key, byteorder="little")


@register
class LineDedup(GlobalOp):
    """Remove lines/paragraphs/3-sentence spans found in more than `max_docs` documents (boilerplate)."""

    name = "line_dedup"
    param_bounds = {"max_docs": (1, None), "min_chars": (0, None)}
    unit: Literal["line", "paragraph", "sentences3"] = "line"
    max_docs: int = 10
    min_chars: int = 10
    drop_empty: bool = True
    param_docs = {
        "unit": "line | paragraph | sentences3 (C4's three-sentence spans)",
        "max_docs": "a unit found in more documents than this is removed everywhere",
        "min_chars": "units shorter than this (after normalising) are never counted or removed",
        "drop_empty": "drop a document whose text is empty after removal (else keep it empty)",
    }
    num_partitions: ClassVar[int] = 1 << PARTITION_BITS
    has_apply: ClassVar[bool] = True
    outputs: ClassVar[dict] = {"removed_lines": pa.int32()}

    @staticmethod
    def validate_params(params: dict) -> None:
        if params["max_docs"] < 1:
            raise ValueError("max_docs must be ≥ 1")

    def setup(self) -> None:
        self._frequent: np.ndarray | None = None

    def _hashes(self, text: str) -> list[int | None]:
        return [unit_hash(u, self.min_chars) for u, _ in split_units(text, self.unit)]

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> pa.Table:
        hashes: list[int] = []
        for text in batch.column("text").to_pylist():
            hashes.extend({h for h in self._hashes(text) if h is not None})
        arr = np.array(hashes, dtype=np.uint64)
        return pa.table({"partition": pa.array((arr >> np.uint64(64 - PARTITION_BITS)).astype(np.int32)),
                         "hash": pa.array(arr)})

    def reduce(self, partition: int, rows: Iterator[pa.RecordBatch], ctx: StageContext) -> pa.Table | None:
        parts = [b.column("hash").to_numpy() for b in rows]
        if not parts:
            return None
        uniq, counts = np.unique(np.concatenate(parts), return_counts=True)
        keep = counts > self.max_docs
        if not keep.any():
            return None
        return pa.table({"hash": pa.array(uniq[keep]), "docs": pa.array(counts[keep])})

    def finalize(self, ctx: StageContext) -> dict:
        files = reduce_files(ctx.work_dir)
        tables = [fs.parquet_file(f).read() for f in files]
        hashes = np.sort(np.concatenate([t.column("hash").to_numpy() for t in tables])) if tables else np.zeros(0, np.uint64)
        counts = np.concatenate([t.column("docs").to_numpy() for t in tables]) if tables else np.zeros(0, np.int64)
        with fs.StagedFile(fs.join(ctx.work_dir, "frequent.npy")) as staged, open(staged.local, "wb") as fh:
            np.save(fh, hashes)
        return {"frequent_units": int(len(hashes)), "unit": self.unit,
                "max_docs_of_a_unit": int(counts.max()) if len(counts) else 0,
                "unit_occurrences_removed": int(counts.sum())}

    def prepare_apply(self, ctx: StageContext) -> None:
        with fs.open(fs.join(ctx.work_dir, "frequent.npy"), "rb") as fh:
            self._frequent = np.load(fh)

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        freq = self._frequent
        out: list[Verdict] = []
        for doc in docs:
            units = split_units(doc["text"], self.unit)
            removed = 0
            if freq is not None and len(freq):
                hs = [unit_hash(u, self.min_chars) for u, _ in units]
                known = np.array([h if h is not None else 0 for h in hs], dtype=np.uint64)
                pos = np.minimum(np.searchsorted(freq, known), len(freq) - 1)
                hit = (freq[pos] == known) & np.array([h is not None for h in hs], dtype=bool)
                if hit.any():
                    removed = int(hit.sum())
                    doc["text"] = _rejoin(units, hit)
            doc["removed_lines"] = removed
            if self.drop_empty and removed and not doc["text"].strip():
                out.append("empty_after_removal")
            else:
                out.append(True)
        return out


def _rejoin(units: list[tuple[str, str]], drop: np.ndarray) -> str:
    """The text without the dropped units; a dropped unit takes its separator with it."""
    kept = [u + sep for (u, sep), d in zip(units, drop) if not d]
    return "".join(kept).rstrip("\n") if kept else ""
