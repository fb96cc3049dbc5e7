"""64-bit n-gram keys built left to right, so the key of every prefix comes for free.

key(w1..wn) = mix(key(w1..wn-1) * K + wn + 1), mix = the splitmix64 finaliser (a bijection).
Tables of different orders are separate, so keys only need to be unique within one order.
"""
from __future__ import annotations

import numpy as np

SEED = np.uint64(0x9E3779B97F4A7C15)
_K = np.uint64(0xD6E8FEB86659FD93)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def extend(keys: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Keys of the n-grams `keys` extended on the right by `tokens`."""
    return mix(keys * _K + tokens.astype(np.uint64) + np.uint64(1))


def rows_keys(tokens: np.ndarray) -> np.ndarray:
    """Keys of the n-grams in the rows of an (U, n) token matrix."""
    keys = np.full(tokens.shape[0], SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(tokens.shape[1]):
            keys = extend(keys, tokens[:, col])
    return keys


def sequence_keys(seq: np.ndarray, order: int) -> list[np.ndarray]:
    """keys[n-1][j] = key of seq[j:j+n] for n = 1..order (positions past the end are garbage)."""
    out = []
    keys = np.full(len(seq), SEED, dtype=np.uint64)
    padded = np.concatenate([seq, np.zeros(order, dtype=seq.dtype)]).astype(np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, order + 1):
            keys = extend(keys, padded[n - 1:n - 1 + len(seq)])
            out.append(keys)
    return out
