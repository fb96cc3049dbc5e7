"""Cross-shard id uniqueness: ids are hashed per shard, then checked range by range.

Duplicates inside a shard are quarantined by the reader. Across shards, each stage-0 task writes
the sorted 64-bit hashes of its ids; the driver then checks one hash range at a time, so memory
is bounded by the range, not by the corpus.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from garden.hashing import values_hash64
from garden.io import fs

RANGES = 16


def write_id_hashes(path: str, ids: list[str], hashes: Sequence[np.ndarray] = ()) -> None:
    """The sorted hashes of a shard's ids: those read one by one (`ids`) and those already
    hashed (values_hash64) by the block reader."""
    arr = np.sort(np.concatenate([values_hash64(ids), *hashes]))
    with fs.StagedFile(path) as staged, open(staged.local, "wb") as fh:
        np.save(fh, arr)


def find_duplicate_ids(paths: list[str]) -> tuple[int, list[int]]:
    """(documents whose id also occurs in another shard, a few of those hashes)."""
    present = set(fs.listdir(fs.dirname(paths[0]))) if paths else set()  # one listing, not a request per shard
    with fs.local_copies([p for p in paths if p.rsplit("/", 1)[-1] in present]) as local:  # on disk, not in memory
        return _find_duplicates([np.load(p, mmap_mode="r") for p in local])


def _find_duplicates(arrays: list[np.ndarray]) -> tuple[int, list[int]]:
    edges = [np.uint64(i * (2**64 // RANGES)) for i in range(RANGES)] + [None]
    dups, examples = 0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        parts = []
        for arr in arrays:
            a = int(np.searchsorted(arr, lo, side="left"))
            b = len(arr) if hi is None else int(np.searchsorted(arr, hi, side="left"))
            parts.append(np.asarray(arr[a:b]))
        if not parts:
            continue
        values, counts = np.unique(np.concatenate(parts), return_counts=True)
        repeated = counts > 1
        dups += int((counts[repeated] - 1).sum())
        examples.extend(int(v) for v in values[repeated][: 5 - len(examples)])
    return dups, examples
