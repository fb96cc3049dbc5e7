"""Shingles, MinHash signatures and LSH band hashes for near-duplicate detection.

Shingles are n-grams of words; Chinese/Japanese/Korean characters are each a word (see
garden.text), so CJK text is shingled by character n-grams and English by word n-grams with
the same code. Signatures come from datasketch, computed in bulk (`MinHash.generator` →
`update_batch`: one vectorised permutation per document instead of one per token).

Shingles are hashed without building their strings (garden.hashing): each distinct token is hashed
once (blake2b, cached), an n-gram's 64-bit hash is a polynomial over its tokens' hashes computed for
all windows at once with numpy. The n-gram strings and one SHA-1 call per shingle were half the
cost of a signature.

Everything is 64-bit: shingle hashes, datasketch's "affine64" permutations, the signature values
and the band keys. With 32-bit shingle hashes, two different documents whose shingles collide
(a short document is one shingle) get identical signatures and are merged with similarity 1.0;
among n distinct short documents about n²/2³³ such pairs exist (≈116 at 1M documents), and
no verification can tell them apart. At 64 bits the expected count is n²/2⁶⁵ (≈3·10⁻⁸ at 1M).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from datasketch import MinHash

from garden.hashing import GOLDEN64 as _FOLD
from garden.hashing import murmur3_fmix64, token_hashes, window_hashes
from garden.text import match_words as tokens

_SEP = "\x1f"


def shingles(text: str, ngram: int) -> set[bytes]:
    """Word n-grams as bytes (a text shorter than `ngram` words is one shingle; empty → none)."""
    toks = tokens(text)
    if not toks:
        return set()
    if len(toks) <= ngram:
        return {_SEP.join(toks).encode()}
    return {_SEP.join(toks[i:i + ngram]).encode() for i in range(len(toks) - ngram + 1)}


_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 2_000_000


def shingle_hashes(text: str, ngram: int) -> list[int]:
    """Distinct 64-bit hashes of the text's word n-grams (the same sets as `shingles`)."""
    return np.unique(ngram_hashes(text, ngram)).tolist()


def ngram_hashes(text: str, ngram: int) -> np.ndarray:
    """uint64 hash of every word n-gram window, in text order, repeats included."""
    toks = tokens(text)
    if not toks:
        return np.zeros(0, dtype=np.uint64)
    th = token_hashes(toks, _TOKEN_CACHE, _TOKEN_CACHE_MAX)
    return window_hashes(th, min(ngram, len(toks)), length_at="end")


def prehashed(value: int) -> int:
    return value


SCHEME = "affine64"  # datasketch 2.0's 64-bit permutations: a·h + b mod 2⁶⁴, a bijection per permutation
SIGNATURE_DTYPE = np.uint64


def signatures(texts: Iterable[str], ngram: int, num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(signatures uint64 [n, num_perm], has_shingles bool [n]) for a batch of texts."""
    sets = [shingle_hashes(t, ngram) for t in texts]
    empty = np.array([not s for s in sets], dtype=bool)
    out = np.empty((len(sets), num_perm), dtype=SIGNATURE_DTYPE)
    for i, mh in enumerate(MinHash.generator(sets, num_perm=num_perm, seed=seed, hashfunc=prehashed,
                                             scheme=SCHEME)):
        out[i] = mh.hashvalues
    return out, ~empty


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 [n, bands]: one 64-bit hash of each band's `rows` 64-bit signature values."""
    n = sigs.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(n, np.uint64(b) * _FOLD + np.uint64(rows), dtype=np.uint64)
            for r in range(b * rows, (b + 1) * rows):
                h = murmur3_fmix64(h ^ sigs[:, r].astype(np.uint64)) + _FOLD
            out[:, b] = murmur3_fmix64(h)
    return out


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of equal MinHash values, row by row (the unbiased Jaccard estimate)."""
    return (a == b).mean(axis=1)
