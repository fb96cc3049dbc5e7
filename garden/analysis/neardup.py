"""Near-duplicate rate of a sample: MinHash-LSH candidates, checked by estimated Jaccard, union-find.

On a sample that is a fraction f of the corpus, a document's duplicates are themselves sampled
with probability f, so the in-sample rate underestimates the corpus rate. We report both the
in-sample figures and a corpus estimate under the pair model (rate / f, capped at 1), and say
which is which.
"""
from __future__ import annotations

import numpy as np

from garden.analysis.annotate import NUM_PERM


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def clusters(signatures: np.ndarray, threshold: float = 0.8) -> list[list[int]]:
    """Groups (indices into `signatures`, size ≥ 2) of documents with estimated Jaccard ≥ threshold."""
    from datasketch.lsh import _optimal_param  # the band/row split MinHashLSH itself would use

    n = len(signatures)
    if n < 2:
        return []
    b, r = _optimal_param(threshold, NUM_PERM, 0.5, 0.5)
    parent = list(range(n))
    buckets: dict[tuple[int, bytes], int] = {}
    for i in range(n):
        sig = signatures[i]
        for band in range(b):
            key = (band, sig[band * r:(band + 1) * r].tobytes())
            j = buckets.setdefault(key, i)
            if j != i and _find(parent, i) != _find(parent, j):
                if float(np.mean(signatures[i] == signatures[j])) >= threshold:
                    parent[_find(parent, i)] = _find(parent, j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_find(parent, i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))


def near_dup_summary(signatures: np.ndarray, sample_fraction: float, threshold: float = 0.8) -> dict:
    """Docs with a near-duplicate, docs dedup would drop, and the corpus estimate, on the sample."""
    groups = clusters(signatures, threshold)
    n = len(signatures)
    in_clusters = sum(len(g) for g in groups)
    removable = in_clusters - len(groups)
    f = max(min(sample_fraction, 1.0), 1e-12)
    rate = in_clusters / n if n else 0.0
    drop = removable / n if n else 0.0
    return {
        "threshold": threshold, "num_perm": NUM_PERM, "shingle": "word 5-grams (CJK character = word)",
        "sample_docs": n, "clusters": len(groups), "docs_in_clusters": in_clusters,
        "sample_dup_rate": rate, "sample_drop_rate": drop,
        "sample_fraction": sample_fraction,
        "corpus_dup_rate_estimate": min(1.0, rate / f),
        "corpus_drop_rate_estimate": min(1.0, drop / f) if f < 1 else drop,
        "estimate_note": ("exact on the whole corpus (up to MinHash error)" if f >= 1 else
                          "pair model: in-sample rate / sampling fraction; clusters larger than 2 make it an overestimate"),
        "groups": groups[:20],
    }
