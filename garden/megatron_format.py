"""Megatron indexed datasets (`MMIDIDX` `.bin` + `.idx`) with numpy only.

The data side must not import torch or megatron-core (seconds and hundreds of MB per worker),
and the format is small and fixed, so it is written here and verified against
`megatron.core.datasets.indexed_dataset.IndexedDataset` in the tests.

Layout of `prefix.idx` (little endian):
    b"MMIDIDX\\x00\\x00"  | u64 version = 1 | u8 dtype code | u64 sequence count N
    | u64 document-index count D (= documents + 1) | i32[N] sequence lengths
    | i64[N] byte offsets of each sequence in .bin | i64[D] document indices (0, 1, ..., N)
`prefix.bin` is the tokens of all sequences back to back in the dtype. Garden writes one
document per sequence, so document indices are simply 0..N.
"""
from __future__ import annotations

import array
import io
import os
import shutil
import struct
from typing import BinaryIO, Iterable, Sequence

import numpy as np

from garden.io import fs

HEADER = b"MMIDIDX\x00\x00"
VERSION = 1
# megatron.core.datasets.indexed_dataset.DType codes
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7,
               np.dtype(np.uint16): 8}
CODE_DTYPES = {code: dt for dt, code in DTYPE_CODES.items()}
UINT16_LIMIT = 65500  # Megatron's own threshold (DType.optimal_dtype)


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits with Megatron's margin, else int32 (as Megatron chooses)."""
    return np.dtype(np.uint16) if vocab_size < UINT16_LIMIT else np.dtype(np.int32)


def bin_path(prefix: str) -> str:
    return prefix + ".bin"


def idx_path(prefix: str) -> str:
    return prefix + ".idx"


def write_index(path: str, dtype: np.dtype, lengths: np.ndarray) -> None:
    """Write an .idx for one-document-per-sequence data with these sequence lengths."""
    dtype = np.dtype(dtype)
    lengths = np.asarray(lengths, dtype=np.int32)
    n = len(lengths)
    pointers = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    doc_idx = np.arange(n + 1, dtype=np.int64)
    with fs.StagedFile(path) as staged, open(staged.local, "wb") as fh:
        fh.write(HEADER)
        fh.write(struct.pack("<Q", VERSION))
        fh.write(struct.pack("<B", DTYPE_CODES[dtype]))
        fh.write(struct.pack("<Q", n))
        fh.write(struct.pack("<Q", n + 1))
        fh.write(lengths.tobytes(order="C"))
        fh.write(pointers.tobytes(order="C"))
        fh.write(doc_idx.tobytes(order="C"))


class IndexedDatasetWriter:
    """Appends documents to `prefix.bin` as they come (nothing held in memory but one int32
    length per document); `finalize()` writes `prefix.idx` and renames both into place."""

    def __init__(self, prefix: str, dtype: np.dtype) -> None:
        self.prefix = prefix
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"unsupported dtype {self.dtype}")
        self._bin = fs.StagedFile(bin_path(prefix))
        self._fh = open(self._bin.local, "wb")
        self._lengths = array.array("i")
        self.tokens = 0

    @property
    def documents(self) -> int:
        return len(self._lengths)

    def add_document(self, tokens: Sequence[int] | np.ndarray) -> None:
        arr = np.asarray(tokens, dtype=self.dtype)
        self._fh.write(arr.tobytes(order="C"))
        self._lengths.append(len(arr))
        self.tokens += len(arr)

    def add_flat(self, flat: np.ndarray, lengths: Sequence[int] | np.ndarray) -> None:
        """Many documents at once: their tokens concatenated, and each one's length."""
        flat = np.asarray(flat, dtype=self.dtype)
        lengths = np.asarray(lengths, dtype=np.int64)
        if int(lengths.sum()) != len(flat):
            raise ValueError(f"lengths sum to {int(lengths.sum())}, but {len(flat)} tokens were given")
        self._fh.write(flat.tobytes(order="C"))
        self._lengths.extend(lengths.astype(np.int32).tolist())
        self.tokens += len(flat)

    def finalize(self) -> dict:
        self._fh.close()
        lengths = np.frombuffer(self._lengths, dtype=np.int32) if self._lengths else np.zeros(0, np.int32)
        write_index(idx_path(self.prefix), self.dtype, lengths)
        self._bin.commit()
        return {"documents": self.documents, "tokens": self.tokens}

    def abort(self) -> None:
        try:
            self._fh.close()
        finally:
            self._bin.abort()


class IndexedDatasetReader:
    """Memory-mapped read access: `len(ds)`, `ds[i]` → the tokens of document i."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        with open(idx_path(prefix), "rb") as fh:
            self.dtype, n, d = _read_header(fh, idx_path(prefix))
            offset = fh.tell()
        idx = np.memmap(idx_path(prefix), mode="r", dtype=np.uint8)
        self.sequence_lengths = np.frombuffer(idx, dtype=np.int32, count=n, offset=offset)
        offset += 4 * n
        self.sequence_pointers = np.frombuffer(idx, dtype=np.int64, count=n, offset=offset)
        offset += 8 * n
        self.document_indices = np.frombuffer(idx, dtype=np.int64, count=d, offset=offset)
        size = os.path.getsize(bin_path(prefix))
        self._bin = np.memmap(bin_path(prefix), mode="r", dtype=self.dtype) if size else np.zeros(0, self.dtype)

    def __len__(self) -> int:
        return len(self.sequence_lengths)

    @property
    def num_tokens(self) -> int:
        return int(self.sequence_lengths.sum(dtype=np.int64))

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.sequence_pointers[i]) // self.dtype.itemsize
        return np.asarray(self._bin[start:start + int(self.sequence_lengths[i])])


def _read_header(fh: BinaryIO, where: str) -> tuple[np.dtype, int, int]:
    """(dtype, sequences, documents + 1) from an .idx file positioned at its start."""
    if fh.read(9) != HEADER:
        raise ValueError(f"{where}: not an MMIDIDX index")
    version, = struct.unpack("<Q", fh.read(8))
    if version != VERSION:
        raise ValueError(f"{where}: unsupported version {version}")
    code, = struct.unpack("<B", fh.read(1))
    n, = struct.unpack("<Q", fh.read(8))
    d, = struct.unpack("<Q", fh.read(8))
    return CODE_DTYPES[code], n, d


def read_lengths(prefix: str) -> tuple[np.dtype, np.ndarray]:
    """The dtype and sequence lengths of a dataset, local or at a URL (read, not mapped)."""
    with fs.open(idx_path(prefix), "rb") as fh:
        return _lengths(fh, idx_path(prefix))


def _lengths(fh: BinaryIO, where: str) -> tuple[np.dtype, np.ndarray]:
    dtype, n, _ = _read_header(fh, where)
    return dtype, np.frombuffer(fh.read(4 * n), dtype=np.int32, count=n)


def merge(prefixes: Iterable[str], out_prefix: str, dtype: np.dtype) -> dict:
    """Concatenate datasets in the given order into one (bytes streamed, lengths re-indexed)."""
    dtype = np.dtype(dtype)
    lengths: list[np.ndarray] = []
    with fs.StagedFile(bin_path(out_prefix)) as staged_bin:
        with open(staged_bin.local, "wb") as out:
            prefixes = list(prefixes)
            indexes = fs.prefetched([idx_path(p) for p in prefixes])  # concurrent on object stores
            for prefix, (where, raw) in zip(prefixes, indexes):
                part_dtype, part_lengths = _lengths(io.BytesIO(raw), where)
                if part_dtype != dtype:
                    raise ValueError(f"{prefix}: dtype {part_dtype} differs from {dtype}")
                lengths.append(part_lengths)
                with fs.open(bin_path(prefix), "rb") as fh:
                    shutil.copyfileobj(fh, out, 16 << 20)
        all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
        write_index(idx_path(out_prefix), dtype, all_lengths)
    return {"documents": int(len(all_lengths)), "tokens": int(all_lengths.sum(dtype=np.int64))}


def split_ranges(split: str, n: int) -> dict[str, tuple[int, int]]:
    """Document ranges [begin, end) of train/valid/test under a --split string (Megatron's own
    rounding, as BlendedMegatronDatasetBuilder cuts each dataset)."""
    fractions = [float(p) for p in split.replace("/", ",").split(",")]
    fractions += [0.0] * (3 - len(fractions))
    total = sum(fractions)
    bounds = [0.0]
    for f in fractions:
        bounds.append(bounds[-1] + f / total)
    return {name: (int(round(a * n)), int(round(b * n)))
            for name, a, b in zip(("train", "valid", "test"), bounds, bounds[1:])}


def empty_splits(split: str, documents: dict[str, int]) -> list[str]:
    """Sources where a non-zero --split part would hold no document (Megatron's own rounding).

    megatron-core 0.16.1 loops forever building a GPTDataset over an empty split.
    """
    fractions = [float(p) for p in split.replace("/", ",").split(",")]
    out = []
    for source, n in sorted(documents.items()):
        ranges = split_ranges(split, n)
        for name, f in zip(("train", "valid", "test"), fractions):
            begin, end = ranges[name]
            if f > 0 and end - begin == 0:
                out.append(f"{source} ({n} documents) has no {name} document under split {split!r}")
    return out
