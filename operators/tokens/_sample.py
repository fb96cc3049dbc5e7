"""A seeded sample of documents that does not depend on arrival order or worker count.

Every document gets a 64-bit key from a seeded hash of its id; the sample is the documents
with the smallest keys ("bottom-k"). Each shard keeps only its own bottom-k (per source when
balancing), which is enough: the global bottom-k is contained in the union.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from garden.hashing import seeded_hashes64


def doc_keys(ids: list[str], seed: int) -> np.ndarray:
    return np.fromiter(seeded_hashes64(seed, ids, byteorder="big"), dtype=np.uint64, count=len(ids))


def bottom_k(table: pa.Table, k: int, per_source: bool) -> pa.Table:
    """Rows with the k smallest keys (per source if `per_source`), sorted by key."""
    table = table.sort_by([("key", "ascending"), ("shard", "ascending"), ("row", "ascending")])
    if not per_source:
        return table.slice(0, k)
    parts = []
    for source in sorted(set(table.column("source").to_pylist())):
        parts.append(table.filter(pc.equal(table.column("source"), source)).slice(0, k))
    if not parts:
        return table.slice(0, 0)
    return pa.concat_tables(parts).sort_by([("key", "ascending"), ("shard", "ascending"), ("row", "ascending")])


def balanced_quota(available: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` evenly over sources; what a small source cannot use goes to the others."""
    quota = {s: 0 for s in available}
    left = total
    open_sources = sorted(s for s, n in available.items() if n > 0)
    while left > 0 and open_sources:
        share = max(1, left // len(open_sources))
        still_open = []
        for s in open_sources:
            give = min(share, available[s] - quota[s], left)
            quota[s] += give
            left -= give
            if quota[s] < available[s]:
                still_open.append(s)
            if left == 0:
                break
        open_sources = still_open
    return quota


def choose(table: pa.Table, sample_docs: int | None, check_docs: int, balance: bool) -> tuple[set, set, bool]:
    """(training rows, check rows, whether the check rows are held out) as sets of (shard, row)."""
    table = table.sort_by([("key", "ascending"), ("shard", "ascending"), ("row", "ascending")])
    shards = table.column("shard").to_numpy()
    rows = table.column("row").to_numpy()
    sources = table.column("source").to_pylist()
    keys = list(zip(shards.tolist(), rows.tolist()))
    if sample_docs is None:
        return set(), set(keys[:check_docs]), False
    if balance:
        counts: dict[str, int] = {}
        for s in sources:
            counts[s] = counts.get(s, 0) + 1
        quota = balanced_quota(counts, sample_docs)
        taken: dict[str, int] = {s: 0 for s in counts}
        train, rest = [], []
        for key, s in zip(keys, sources):
            if taken[s] < quota[s]:
                taken[s] += 1
                train.append(key)
            else:
                rest.append(key)
    else:
        train, rest = keys[:sample_docs], keys[sample_docs:]
    if len(rest) >= min(check_docs, 1):
        return set(train), set(rest[:check_docs]), True
    return set(train), set(train[:check_docs]), False
