"""Hashed unigram + bigram features of a text (DSIR, Xie et al. 2023).

Tokens are lowercased words, with every CJK character a token of its own (garden.text.words),
so Chinese needs no segmenter. Each unigram and each adjacent pair is hashed into one of
`buckets` bins. A document's features are the list of its bins (with repeats).
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from garden.hashing import splitmix64_mix
from garden.text import words

_PAIR = np.uint64(0x9E3779B97F4A7C15)


def feature_bins(text: str, buckets: int) -> np.ndarray:
    """Bins of the unigrams then the bigrams of `text` (empty for a text without words)."""
    toks = words((text or "").lower())
    if not toks:
        return np.zeros(0, dtype=np.int64)
    h = np.fromiter((zlib.crc32(t.encode("utf-8")) for t in toks), dtype=np.uint64, count=len(toks))
    uni = splitmix64_mix(h)
    with np.errstate(over="ignore"):
        bi = splitmix64_mix(h[:-1] * _PAIR + h[1:] + np.uint64(1))
    return (np.concatenate([uni, bi]) % np.uint64(buckets)).astype(np.int64)


def batch_bins(texts: Sequence[str], buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bins of all texts concatenated, owning text of each bin, unigram count per text)."""
    parts = [feature_bins(t, buckets) for t in texts]
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    bins = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(parts)), lengths)
    unigrams = (lengths + 1) // 2  # n unigrams and n - 1 bigrams
    return bins, owner, unigrams


def histogram(texts: Sequence[str], buckets: int) -> np.ndarray:
    bins, _, _ = batch_bins(texts, buckets)
    return np.bincount(bins, minlength=buckets).astype(np.int64)


def log_distribution(counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """Log probabilities of the bins with add-`smoothing` (every bin keeps some mass)."""
    c = counts.astype(np.float64) + smoothing
    return np.log(c) - np.log(c.sum())


def log_weights(texts: Sequence[str], log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log importance weight = sum of log p_target - log p_raw over the features, unigram count) per text."""
    bins, owner, unigrams = batch_bins(texts, len(log_ratio))
    return np.bincount(owner, weights=log_ratio[bins], minlength=len(texts)), unigrams
