"""LSH banding: parameter choice, candidate pairs from equal band hashes, union-find of clusters."""
from __future__ import annotations

import functools
from typing import Callable, Iterable

import numpy as np
from datasketch.lsh import _optimal_param

from operators.dedup._signature import estimated_jaccard

MAX_GROUP_ALL_PAIRS = 256  # bigger buckets whose members fail verification fall back to anchor edges


@functools.lru_cache(maxsize=64)  # validation and the driver's derived parameters ask the same question
def choose_bands(threshold: float, num_perm: int, bands: int | None, rows: int | None,
                 fn_weight: float = 0.5) -> tuple[int, int]:
    """bands × rows: as given, or datasketch's search minimising weighted false pos./neg. areas."""
    if bands and rows:
        return bands, rows
    if bands:
        return bands, num_perm // bands
    if rows:
        return num_perm // rows, rows
    b, r = _optimal_param(threshold, num_perm, 1.0 - fn_weight, fn_weight)
    return int(b), int(r)


def s_curve(bands: int, rows: int, points: Iterable[float] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)) -> dict[str, float]:
    """Probability that a pair with Jaccard s shares at least one band: 1 - (1 - s^r)^b."""
    return {f"{s:.2f}": round(1.0 - (1.0 - s ** rows) ** bands, 4) for s in points}


def candidate_edges(band: np.ndarray, hashes: np.ndarray, nodes: np.ndarray,
                    sigs_of: Callable[[np.ndarray], np.ndarray] | None, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Edges (row index a, row index b, estimated Jaccard) linking rows that share a band hash.

    Each bucket (equal band and hash) links its members to its first node (a star, not all
    pairs). With `sigs_of` the edges are verified against the signatures; members of a bucket
    that fail against the anchor are tried against every other member, so a bucket of two
    near-duplicate clusters that collided by chance still yields both clusters.
    """
    stats = {"buckets": 0, "candidates": 0, "rejected": 0}
    n = len(nodes)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), stats)
    if n < 2:
        return empty
    order = np.lexsort((nodes, hashes, band))
    b_s, h_s = band[order], hashes[order]
    start = np.ones(n, dtype=bool)
    start[1:] = (b_s[1:] != b_s[:-1]) | (h_s[1:] != h_s[:-1])
    group = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    sizes = np.diff(np.append(starts, n))
    multi = sizes[group] > 1
    if not multi.any():
        return empty
    anchor_pos = starts[group]
    member = multi & ~start
    a = order[anchor_pos[member]]
    b = order[np.flatnonzero(member)]
    stats["buckets"] = int((sizes > 1).sum())
    stats["candidates"] = len(a)
    if sigs_of is None:
        return a, b, np.full(len(a), np.nan, dtype=np.float32), stats

    rows_needed = np.unique(np.concatenate([a, b]))
    sigs = sigs_of(nodes[rows_needed])
    ia, ib = np.searchsorted(rows_needed, a), np.searchsorted(rows_needed, b)
    sim = estimated_jaccard(sigs[ia], sigs[ib]).astype(np.float32)
    ok = sim >= threshold
    stats["rejected"] = int((~ok).sum())
    out_a, out_b, out_s = [a[ok]], [b[ok]], [sim[ok]]
    failed_groups = np.unique(group[np.flatnonzero(member)[~ok]])
    for g in failed_groups:
        lo, size = starts[g], sizes[g]
        if size > MAX_GROUP_ALL_PAIRS:
            continue
        rows_g = order[lo:lo + size]
        sg = sigs_of(nodes[rows_g])
        sims = (sg[:, None, :] == sg[None, :, :]).mean(axis=2)
        for i in range(1, size):  # anchor edges (column 0) were already emitted where they passed
            for j in range(1, i):
                if sims[i, j] >= threshold and sims[i, 0] < threshold:
                    out_a.append(np.array([rows_g[j]]))
                    out_b.append(np.array([rows_g[i]]))
                    out_s.append(np.array([sims[i, j]], dtype=np.float32))
                    break
    return np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s), stats


class UnionFind:
    """Disjoint sets over the nodes that appear in pairs; each root is its set's keeper.

    The keeper is the member with the smallest key (-score, node): highest score, then stable
    input order, so the result does not depend on the order in which pairs arrive.
    """

    def __init__(self, use_scores: bool) -> None:
        self.parent: dict[int, int] = {}
        self.score: dict[int, float] | None = {} if use_scores else None

    def _key(self, x: int) -> tuple[float, int]:
        return (-self.score[x], x) if self.score is not None else (0.0, x)

    def add(self, x: int, score: float = 0.0) -> None:
        if x not in self.parent:
            self.parent[x] = x
            if self.score is not None:
                self.score[x] = score

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._key(ra) <= self._key(rb):
            self.parent[rb] = ra
        else:
            self.parent[ra] = rb

    def __len__(self) -> int:
        return len(self.parent)
