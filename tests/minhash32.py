"""The 32-bit MinHash scheme minhash_dedup used before issue 12, kept for comparison only.

Until then each n-gram's 64-bit hash (`operators.dedup._signature.ngram_hashes`, unchanged) was
folded to 32 bits (h ^ h >> 32, low half) and permuted with datasketch's default "affine32"
scheme, giving uint32 signatures. Two different documents whose shingles collide in those 32 bits
get identical signatures. bench/bench_minhash_hashes.py times this against the 64-bit scheme and
tests/test_minhash_hashes.py uses it to prove that its fixture pair collided.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from datasketch import MinHash

from operators.dedup import prehashed, ngram_hashes

_LOW32 = np.uint64(0xFFFFFFFF)


def fold32(h: np.ndarray) -> np.ndarray:
    """The old fold of 64-bit n-gram hashes to 32 bits (xor of the halves)."""
    return (h ^ (h >> np.uint64(32))) & _LOW32


def shingle_hashes32(text: str, ngram: int) -> list[int]:
    """Distinct 32-bit shingle hashes, exactly as the old `shingle_hashes` computed them."""
    return np.unique(fold32(ngram_hashes(text, ngram))).tolist()


def signatures32(texts: Iterable[str], ngram: int, num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(signatures uint32 [n, num_perm], has_shingles bool [n]): the old `signatures`."""
    sets = [shingle_hashes32(t, ngram) for t in texts]
    empty = np.array([not s for s in sets], dtype=bool)
    out = np.empty((len(sets), num_perm), dtype=np.uint32)
    for i, mh in enumerate(MinHash.generator(sets, num_perm=num_perm, seed=seed, hashfunc=prehashed)):
        out[i] = mh.hashvalues
    return out, ~empty
