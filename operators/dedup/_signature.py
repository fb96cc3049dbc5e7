"""Shingles, MinHash signatures and LSH band hashes for near-duplicate detection.

Shingles are n-grams of words; Chinese/Japanese/Korean characters are each a word (see
garden.text), so CJK text is shingled by character n-grams and English by word n-grams with
the same code. Signatures come from datasketch, computed in bulk (`MinHash.generator` →
`update_batch`: one vectorised permutation per document instead of one per token).

Shingles are hashed without building their strings: each distinct token is hashed once
(blake2b, cached), an n-gram's 64-bit hash is a polynomial over its tokens' hashes computed for
all windows at once with numpy. The n-gram strings and one SHA-1 call per shingle were half the
cost of a signature.

Everything is 64-bit: shingle hashes, datasketch's "affine64" permutations, the signature values
and the band keys. With 32-bit shingle hashes, two different documents whose shingles collide
(a short document is one shingle) get identical signatures and are merged with similarity 1.0;
among n distinct short documents about n²/2³³ such pairs exist (≈116 at 1M documents), and
no verification can tell them apart. At 64 bits the expected count is n²/2⁶⁵ (≈3·10⁻⁸ at 1M).
"""
from __future__ import annotations

import hashlib
import unicodedata
from typing import Iterable

import numpy as np
import regex
from datasketch import MinHash

from garden.text import CJK

# Letters/digits runs, or one CJK character: garden.text.words without its apostrophe rules,
# which shingling does not need (1.6x faster).
_WORD_RE = regex.compile(rf"[{CJK}]|[^\W{CJK}]+")

_SEP = "\x1f"
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_FOLD = np.uint64(0x9E3779B97F4A7C15)


def tokens(text: str) -> list[str]:
    """Words of the NFKC-casefolded text; each CJK character is one word."""
    return _WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, ngram: int) -> set[bytes]:
    """Word n-grams as bytes (a text shorter than `ngram` words is one shingle; empty → none)."""
    toks = tokens(text)
    if not toks:
        return set()
    if len(toks) <= ngram:
        return {_SEP.join(toks).encode()}
    return {_SEP.join(toks[i:i + ngram]).encode() for i in range(len(toks) - ngram + 1)}


_POLY = np.uint64(0x100000001B3)
_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 2_000_000


def _token_hashes(toks: list[str]) -> np.ndarray:
    cache = _TOKEN_CACHE
    out = np.empty(len(toks), dtype=np.uint64)
    for i, t in enumerate(toks):
        h = cache.get(t)
        if h is None:
            h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            if len(cache) < _TOKEN_CACHE_MAX:
                cache[t] = h
        out[i] = h
    return out


def shingle_hashes(text: str, ngram: int) -> list[int]:
    """Distinct 64-bit hashes of the text's word n-grams (the same sets as `shingles`)."""
    return np.unique(ngram_hashes(text, ngram)).tolist()


def ngram_hashes(text: str, ngram: int) -> np.ndarray:
    """uint64 hash of every word n-gram window, in text order, repeats included."""
    toks = tokens(text)
    if not toks:
        return np.zeros(0, dtype=np.uint64)
    n = min(ngram, len(toks))
    th = _token_hashes(toks)
    m = len(toks) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _POLY + th[k:k + m]
        return _fmix64(h + np.uint64(n))


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


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(33))
    h = h * _MIX2
    return h ^ (h >> np.uint64(33))


def band_hashes(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 [n, bands]: one 64-bit hash of each band's `rows` 64-bit signature values."""
    n = sigs.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(n, np.uint64(b) * _FOLD + np.uint64(rows), dtype=np.uint64)
            for r in range(b * rows, (b + 1) * rows):
                h = _fmix64(h ^ sigs[:, r].astype(np.uint64)) + _FOLD
            out[:, b] = _fmix64(h)
    return out


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of equal MinHash values, row by row (the unbiased Jaccard estimate)."""
    return (a == b).mean(axis=1)
