"""The hashes Garden's decisions depend on: seeded keys and fractions, 64-bit mixers, n-gram hashes.

Sampling, held-out splits, dedup keys, id checks and LM count tables all hash something, and a
changed hash changes which documents are kept. So every such hash is defined here once, and
tests/unit/test_hashing.py pins their values.

The call sites grew with small differences (byte order, a separator or none, how ids that are
not valid UTF-8 are encoded, where an n-gram's length enters its hash). Each is a value some
output depends on, so they are explicit parameters here, never silently unified.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

ByteOrder = Literal["little", "big"]
_blake2b, _from_bytes = hashlib.blake2b, int.from_bytes

# --- blake2b keys -----------------------------------------------------------------------------


def digest64(text: str, errors: str = "strict") -> bytes:
    """The 8-byte blake2b digest of the UTF-8 text (`errors="surrogatepass"` for ids made from
    file names that are not valid UTF-8)."""
    return hashlib.blake2b(text.encode("utf-8", errors), digest_size=8).digest()


def hash64(text: str, *, byteorder: ByteOrder, errors: str = "strict") -> int:
    """digest64 as an unsigned 64-bit integer: the key of exact dedup, line dedup, id checks."""
    data = text.encode() if errors == "strict" else text.encode("utf-8", errors)  # encode(): the fast path
    return _from_bytes(_blake2b(data, digest_size=8).digest(), byteorder)


def seeded_text(seed: int, *parts: str, sep: str = "\x00") -> str:
    """What a seeded key hashes: the seed and the parts joined by `sep` ("\\x00" everywhere but one
    old training-order sort, which has no separator)."""
    if len(parts) == 1:
        return f"{seed}{sep}{parts[0]}"
    return sep.join([f"{seed}", *(f"{p}" for p in parts)])


def seeded_hash64(seed: int, *parts: str, byteorder: ByteOrder, sep: str = "\x00", errors: str = "strict") -> int:
    """A 64-bit key that depends only on (seed, parts): the same draw for any worker count or order."""
    text = f"{seed}{sep}{parts[0]}" if len(parts) == 1 else seeded_text(seed, *parts, sep=sep)
    data = text.encode() if errors == "strict" else text.encode("utf-8", errors)
    return _from_bytes(_blake2b(data, digest_size=8).digest(), byteorder)


def seeded_hashes64(seed: int, keys: Sequence[str], *, byteorder: ByteOrder, sep: str = "\x00") -> list[int]:
    """seeded_hash64(seed, key) of every key, in one pass (the seed is encoded once): per-document
    keys of a whole batch."""
    prefix = f"{seed}{sep}".encode()
    return [_from_bytes(_blake2b(prefix + f"{k}".encode(), digest_size=8).digest(), byteorder) for k in keys]


def seeded_fraction(seed: int, key: str) -> float:
    """A number in [0, 1) that depends only on (seed, key): `sample`, `tokenize`'s held-out split
    and the classifier's held-out split use it, so one document always falls on the same side."""
    return seeded_hash64(seed, key, byteorder="big") / 2**64


# --- 64-bit mixers (bijections on uint64 arrays) -----------------------------------------------

_MURMUR_M1 = np.uint64(0xFF51AFD7ED558CCD)
_MURMUR_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_SPLITMIX_M1 = np.uint64(0xBF58476D1CE4E5B9)
_SPLITMIX_M2 = np.uint64(0x94D049BB133111EB)
GOLDEN64 = np.uint64(0x9E3779B97F4A7C15)  # 2⁶⁴/φ: the usual odd constant to fold values apart


def murmur3_fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: MinHash shingles, band keys, decontamination n-grams."""
    h = h ^ (h >> np.uint64(33))
    h = h * _MURMUR_M1
    h = h ^ (h >> np.uint64(33))
    h = h * _MURMUR_M2
    return h ^ (h >> np.uint64(33))


def splitmix64_mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: LM n-gram keys and DSIR feature bins."""
    z = z ^ (z >> np.uint64(30))
    z = z * _SPLITMIX_M1
    z = z ^ (z >> np.uint64(27))
    z = z * _SPLITMIX_M2
    return z ^ (z >> np.uint64(31))


# --- many strings at once (the reader's and the cross-shard id checks) --------------------------
# A whole column is hashed in a few numpy passes, with no Python call per value: each value's
# UTF-8 bytes are cut into little-endian 8-byte words (the last one zero-padded), every word is
# mixed with its position, the row's words are summed, and the sum is mixed with the length. Not
# for adversarial input (a chosen collision is easy); for ids it is as good as any 64-bit hash.

_VALUES_SEED = np.uint64(0x243F6A8885A308D3)  # π's first hex digits: any fixed odd constant
_SLICE_BYTES = 1 << 22  # bytes hashed per pass: bounds the temporary arrays to a few times this


def values_hash64(values: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
    """uint64 hash of each value (strings as UTF-8, lone surrogates as `surrogatepass` writes
    them; binary as is), in order. A string array and the list of its values hash alike."""
    import pyarrow as pa

    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        try:
            values = pa.array(values, pa.string())
        except (UnicodeEncodeError, pa.ArrowException):  # a lone surrogate: its surrogatepass bytes
            values = pa.array([v.encode("utf-8", "surrogatepass") for v in values], pa.binary())
    if isinstance(values, pa.ChunkedArray):
        parts = [_array_hash64(c) for c in values.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    return _array_hash64(values)


def _array_hash64(arr: pa.Array) -> np.ndarray:
    import pyarrow as pa

    if arr.null_count:
        raise ValueError("values_hash64: null values have no bytes to hash")
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    if not (large or pa.types.is_string(arr.type) or pa.types.is_binary(arr.type)):
        raise TypeError(f"values_hash64: {arr.type} is not a string or binary type")
    n = len(arr)
    if not n:
        return np.zeros(0, dtype=np.uint64)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if large else np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    offsets = offsets.astype(np.int64)
    out = np.empty(n, dtype=np.uint64)
    row = 0
    while row < n:  # rows in slices of about _SLICE_BYTES (at least one row)
        end = int(np.searchsorted(offsets, offsets[row] + _SLICE_BYTES, side="right")) - 1
        end = min(max(end, row + 1), n)
        out[row:end] = _slice_hash64(data, offsets[row:end + 1])
        row = end
    return out


def _slice_hash64(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    lengths = np.diff(offsets)
    nwords = (lengths + 7) >> 3
    word_end = np.cumsum(nwords)
    word_start = word_end - nwords
    total = int(word_end[-1])
    buf = np.zeros(int(offsets[-1] - offsets[0]) + 8, dtype=np.uint8)  # the slice's bytes, then 8 zeros
    buf[:-8] = data[offsets[0]:offsets[-1]]
    windows = np.ndarray((len(buf) - 7,), dtype=np.dtype("<u8"), buffer=buf, strides=(1,))  # 8 bytes at each offset
    position = np.arange(total, dtype=np.int64) - np.repeat(word_start, nwords)  # the word's index in its row
    words = windows[np.repeat(offsets[:-1] - offsets[0], nwords) + 8 * position].astype(np.uint64)
    left = np.repeat(lengths, nwords) - 8 * position  # bytes of the row from this word on
    tail = left < 8
    words[tail] &= (np.uint64(1) << (np.uint64(8) * left[tail].astype(np.uint64))) - np.uint64(1)
    with np.errstate(over="ignore"):
        mixed = murmur3_fmix64(words ^ splitmix64_mix(position.astype(np.uint64) + _VALUES_SEED))
        sums = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(mixed, dtype=np.uint64)])
        per_row = sums[word_end] - sums[word_start]
        return murmur3_fmix64(per_row ^ splitmix64_mix(lengths.astype(np.uint64) * GOLDEN64 + _VALUES_SEED))


# --- word n-gram hashes (MinHash shingles, decontamination) -----------------------------------

_FNV_PRIME = np.uint64(0x100000001B3)


def token_hashes(tokens: list[str], cache: dict[str, int], cache_max: int) -> np.ndarray:
    """uint64 hash64 (little-endian) of each token; distinct tokens are hashed once via `cache`
    (which stops growing at `cache_max` entries)."""
    out = np.empty(len(tokens), dtype=np.uint64)
    for i, t in enumerate(tokens):
        h = cache.get(t)
        if h is None:
            h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
            if len(cache) < cache_max:
                cache[t] = h
        out[i] = h
    return out


def window_hashes(token_hash: np.ndarray, n: int, *, length_at: Literal["start", "end"]) -> np.ndarray:
    """uint64 hash of every n-token window, in order: a polynomial over the token hashes, the
    window length n mixed in, then murmur3_fmix64. Nothing builds the n-gram strings.

    MinHash shingles add n after the polynomial (`length_at="end"`); decontamination starts the
    polynomial from n (`"start"`). Both are kept so that no stored signature or band key changes.
    """
    m = len(token_hash) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        if length_at == "start":
            h = np.full(m, np.uint64(n), dtype=np.uint64)
        else:
            h = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            h = h * _FNV_PRIME + token_hash[k:k + m]
        if length_at == "end":
            h = h + np.uint64(n)
        return murmur3_fmix64(h)


# --- token-id n-gram keys (LM count tables) ---------------------------------------------------
# key(w1..wn) = mix(key(w1..wn-1) * K + wn + 1), mix = splitmix64_mix (a bijection), so the key
# of every prefix comes for free. Tables of different orders are separate, so keys only need to
# be unique within one order.

LM_KEY_SEED = GOLDEN64
_LM_K = np.uint64(0xD6E8FEB86659FD93)


def extend_keys(keys: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Keys of the n-grams `keys` extended on the right by `tokens`."""
    return splitmix64_mix(keys * _LM_K + tokens.astype(np.uint64) + np.uint64(1))


def rows_keys(tokens: np.ndarray) -> np.ndarray:
    """Keys of the n-grams in the rows of an (U, n) token matrix."""
    keys = np.full(tokens.shape[0], LM_KEY_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(tokens.shape[1]):
            keys = extend_keys(keys, tokens[:, col])
    return keys


def sequence_keys(seq: np.ndarray, order: int) -> list[np.ndarray]:
    """keys[n-1][j] = key of seq[j:j+n] for n = 1..order (positions past the end are garbage)."""
    out = []
    keys = np.full(len(seq), LM_KEY_SEED, dtype=np.uint64)
    padded = np.concatenate([seq, np.zeros(order, dtype=seq.dtype)]).astype(np.uint64)
    with np.errstate(over="ignore"):
        for n in range(1, order + 1):
            keys = extend_keys(keys, padded[n - 1:n - 1 + len(seq)])
            out.append(keys)
    return out
