"""Count n-grams of orders 1..N over sentences, in bounded memory.

Sentences are padded `<s> w1 .. wn </s>`; every n-gram inside one padded sentence is counted.
Each batch is counted with numpy (keys, np.unique) and merged into the running totals; the
totals hold the token rows of each distinct n-gram (needed for continuation counts and ARPA).

With `max_memory`, totals that outgrow the budget are spilled to disk as a sorted run (one .npy
file per array, memory-mapped back) and counting starts afresh; `finish` merges the runs
streaming, one range of keys at a time (keys are uniform 64-bit hashes, so equal key ranges
hold about equal shares), so counting never holds more than the budget plus one key range
besides the merged result.  The result is the same arrays as counting in memory.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Iterable, Sequence

import numpy as np

from garden.hashing import sequence_keys


@dataclasses.dataclass
class OrderCounts:
    """Distinct n-grams of one order, sorted by key."""

    keys: np.ndarray    # uint64 (U,)
    tokens: np.ndarray  # int32 (U, n)
    counts: np.ndarray  # int64 (U,)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.tokens.nbytes + self.counts.nbytes)


def pad_sentences(sentences: Sequence[np.ndarray], bos: int, eos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequence, sentence index per position, position within its sentence) of the padded sentences."""
    if not sentences:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    lengths = np.fromiter((len(s) + 2 for s in sentences), dtype=np.int64, count=len(sentences))
    seq = np.empty(int(lengths.sum()), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for s, start, n in zip(sentences, starts, lengths):
        seq[start] = bos
        seq[start + 1:start + n - 1] = s
        seq[start + n - 1] = eos
    sent = np.repeat(np.arange(len(sentences)), lengths)
    pos = np.arange(len(seq)) - np.repeat(starts, lengths)
    return seq, sent, pos


def count_batch(sentences: Sequence[np.ndarray], order: int, bos: int, eos: int) -> list[OrderCounts]:
    seq, sent, pos = pad_sentences(sentences, bos, eos)
    if len(seq) == 0:
        return [OrderCounts(np.zeros(0, np.uint64), np.zeros((0, n), np.int32), np.zeros(0, np.int64))
                for n in range(1, order + 1)]
    lengths = np.bincount(sent)
    remaining = lengths[sent] - pos  # tokens from here to the end of the sentence
    keys = sequence_keys(seq, order)
    out = []
    for n in range(1, order + 1):
        starts = np.nonzero(remaining >= n)[0]
        k = keys[n - 1][starts]
        uniq, first, counts = np.unique(k, return_index=True, return_counts=True)
        rows = seq[starts[first][:, None] + np.arange(n)[None, :]].astype(np.int32)  # half the memory of int64
        out.append(OrderCounts(uniq, rows, counts.astype(np.int64)))
    return out


def merge(a: OrderCounts, b: OrderCounts) -> OrderCounts:
    if len(a.keys) == 0:
        return b
    if len(b.keys) == 0:
        return a
    keys = np.concatenate([a.keys, b.keys])
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    tokens = np.concatenate([a.tokens, b.tokens])[first]
    counts = np.bincount(inverse.ravel(), weights=np.concatenate([a.counts, b.counts]), minlength=len(uniq))
    return OrderCounts(uniq, tokens, counts.astype(np.int64))


MERGE_CHUNK_ENTRIES = 1 << 20  # n-grams per key range when merging spilled runs


def spill(counts: list[OrderCounts], directory: str) -> list[OrderCounts]:
    """Write one run (every order's sorted arrays) under `directory`; return it memory-mapped."""
    os.makedirs(directory)
    out = []
    for n, c in enumerate(counts, 1):
        arrays = []
        for name, arr in (("keys", c.keys), ("tokens", c.tokens), ("counts", c.counts)):
            path = os.path.join(directory, f"{name}{n}.npy")
            np.save(path, np.ascontiguousarray(arr))
            arrays.append(np.load(path, mmap_mode="r"))
        out.append(OrderCounts(*arrays))
    return out


def _key_bounds(parts: int) -> np.ndarray:
    """parts - 1 increasing uint64 split points dividing the key space into equal ranges."""
    step = (1 << 64) // parts
    return np.array([i * step for i in range(1, parts)], dtype=np.uint64)


def merge_runs(runs: list[list[OrderCounts]], chunk_entries: int = MERGE_CHUNK_ENTRIES) -> list[OrderCounts]:
    """Merge sorted runs (memory-mapped or not) one key range at a time: the same result as merging
    them all at once, with one range's slices in memory besides the output."""
    out = []
    for n in range(len(runs[0])):
        parts = [r[n] for r in runs if len(r[n].keys)]
        total = sum(len(p.keys) for p in parts)
        if not parts:
            out.append(runs[0][n])
            continue
        bounds = _key_bounds(max(1, -(-total // chunk_entries)))
        cuts = [np.concatenate([[0], np.searchsorted(p.keys, bounds), [len(p.keys)]]) for p in parts]
        keys, tokens, counts = [], [], []
        for r in range(len(bounds) + 1):
            merged = None
            for p, c in zip(parts, cuts):
                lo, hi = int(c[r]), int(c[r + 1])
                piece = OrderCounts(np.asarray(p.keys[lo:hi]), np.asarray(p.tokens[lo:hi]), np.asarray(p.counts[lo:hi]))
                merged = piece if merged is None else merge(merged, piece)
            keys.append(merged.keys)
            tokens.append(merged.tokens)
            counts.append(merged.counts)
        out.append(OrderCounts(np.concatenate(keys), np.concatenate(tokens), np.concatenate(counts)))
    return out


class NgramCounter:
    """Accumulates counts batch by batch; merges pending batches once they hold `batch_tokens` tokens.
    With `max_memory` (bytes), totals above it are spilled to sorted runs on disk (under `spill_dir`,
    default the system's temp directory) and merged streaming by `finish`."""

    def __init__(self, order: int, bos: int, eos: int, batch_tokens: int = 2_000_000,
                 max_memory: int | None = None, spill_dir: str | None = None) -> None:
        self.order, self.bos, self.eos = order, bos, eos
        self.batch_tokens = batch_tokens
        self.max_memory, self.spill_dir = max_memory, spill_dir
        if max_memory is not None:  # a batch's own counts are several times its tokens' bytes
            self.batch_tokens = max(1000, min(batch_tokens, max_memory // (16 * (order + 2))))
        self.totals: list[OrderCounts] | None = None
        self._runs: list[list[OrderCounts]] = []
        self._run_dir: str | None = None
        self.spilled_runs = 0
        self._pending: list[np.ndarray] = []
        self._pending_tokens = 0
        self.sentences = 0
        self.tokens = 0

    def add(self, sentences: Iterable[np.ndarray]) -> None:
        for s in sentences:
            self._pending.append(s)
            self._pending_tokens += len(s) + 2
            self.sentences += 1
            self.tokens += len(s) + 1  # predicted tokens: words and </s>
            if self._pending_tokens >= self.batch_tokens:
                self._flush()

    def add_counts(self, other: list[OrderCounts]) -> None:
        """Merge counts made elsewhere (another shard's counter)."""
        self._flush()
        self._add(other)

    def _add(self, counts: list[OrderCounts]) -> None:
        self.totals = counts if self.totals is None else [merge(a, b) for a, b in zip(self.totals, counts)]
        if self.max_memory is not None and sum(c.nbytes for c in self.totals) > self.max_memory:
            if self._run_dir is None:
                self._run_dir = tempfile.mkdtemp(prefix="garden-lm-counts-", dir=self.spill_dir)
            self._runs.append(spill(self.totals, os.path.join(self._run_dir, f"run-{len(self._runs):05d}")))
            self.spilled_runs += 1
            self.totals = None

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = count_batch(self._pending, self.order, self.bos, self.eos)
        self._pending, self._pending_tokens = [], 0
        self._add(batch)

    def finish(self) -> list[OrderCounts]:
        self._flush()
        if self._runs:
            runs = self._runs + ([self.totals] if self.totals is not None else [])
            self.totals = merge_runs(runs)
            self._runs = []
            self.close()
        if self.totals is None:
            self.totals = count_batch([], self.order, self.bos, self.eos)
        return self.totals

    def close(self) -> None:
        """Remove the spilled runs (also after a failure)."""
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None


def save_counts(fh, counts: list[OrderCounts], sentences: int, tokens: int) -> None:
    """Write counts to a binary file object (one shard's counts, merged later by `load_counts`)."""
    arrays = {"sentences": np.array(sentences), "tokens": np.array(tokens)}
    for n, c in enumerate(counts, 1):
        arrays[f"keys{n}"], arrays[f"tokens{n}"], arrays[f"counts{n}"] = c.keys, c.tokens, c.counts
    np.savez(fh, **arrays)


def load_counts(fh) -> tuple[list[OrderCounts], int, int]:
    with np.load(fh) as z:
        order = sum(1 for k in z.files if k.startswith("keys"))
        counts = [OrderCounts(z[f"keys{n}"], z[f"tokens{n}"], z[f"counts{n}"]) for n in range(1, order + 1)]
        return counts, int(z["sentences"]), int(z["tokens"])

