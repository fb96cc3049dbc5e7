"""Count n-grams of orders 1..N over sentences, in bounded memory.

Sentences are padded `<s> w1 .. wn </s>`; every n-gram inside one padded sentence is counted.
Each batch is counted with numpy (keys, np.unique) and merged into the running totals; the
totals hold the token rows of each distinct n-gram (needed for continuation counts and ARPA).
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np

from garden.lm.hashing import sequence_keys


@dataclasses.dataclass
class OrderCounts:
    """Distinct n-grams of one order, sorted by key."""

    keys: np.ndarray    # uint64 (U,)
    tokens: np.ndarray  # int32 (U, n)
    counts: np.ndarray  # int64 (U,)


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


class NgramCounter:
    """Accumulates counts batch by batch; merges pending batches once they hold `merge_every` tokens."""

    def __init__(self, order: int, bos: int, eos: int, batch_tokens: int = 2_000_000) -> None:
        self.order, self.bos, self.eos = order, bos, eos
        self.batch_tokens = batch_tokens
        self.totals: list[OrderCounts] | None = None
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
        self.totals = other if self.totals is None else [merge(a, b) for a, b in zip(self.totals, other)]

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = count_batch(self._pending, self.order, self.bos, self.eos)
        self._pending, self._pending_tokens = [], 0
        self.totals = batch if self.totals is None else [merge(a, b) for a, b in zip(self.totals, batch)]

    def finish(self) -> list[OrderCounts]:
        self._flush()
        if self.totals is None:
            self.totals = count_batch([], self.order, self.bos, self.eos)
        return self.totals


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

