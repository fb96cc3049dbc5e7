"""Per-shard signature files on disk: written row by row in scan, read back by row for look-ups.

Candidate verification (reduce) and the similarity reported for each dropped document
(finalize) need signatures of arbitrary documents; keeping them in one flat uint64 file per
shard (`.u64`, 8 × num_perm bytes a document) lets both read exactly the rows they need without
loading the corpus. Garden versions with 32-bit signatures wrote `.u32` files; those are never
read as 64-bit rows (see `refuse_older_signatures`).
"""
from __future__ import annotations

import os

import numpy as np

from garden.io import fs
from operators.dedup._signature import SIGNATURE_DTYPE

ROW_BITS = 40  # node id = shard << 40 | row: sorts in stable input order
SUFFIX = ".u64"
VALUE_BYTES = np.dtype(SIGNATURE_DTYPE).itemsize


def node_ids(shard: int, first_row: int, n: int) -> np.ndarray:
    return (np.int64(shard) << np.int64(ROW_BITS)) + np.arange(first_row, first_row + n, dtype=np.int64)


def split_nodes(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.asarray(nodes, dtype=np.int64)
    return nodes >> np.int64(ROW_BITS), nodes & np.int64((1 << ROW_BITS) - 1)


def signature_path(work_dir: str, shard: int) -> str:
    return fs.join(work_dir, "signatures", f"shard-{shard:05d}{SUFFIX}")


def refuse_older_signatures(work_dir: str) -> list[str]:
    """Names in the signature folder; raises if a Garden with 32-bit signatures wrote one (`.u32`).

    The stage fingerprint does not change with the code, so a run resumed after an upgrade would
    otherwise join 32-bit and 64-bit band hashes, which never match.
    """
    sig_dir = fs.join(work_dir, "signatures")
    names = fs.listdir(sig_dir)
    old = [f for f in names if f.endswith(".u32")]
    if old:
        raise IOError(f"{fs.join(sig_dir, old[0])} holds 32-bit signatures written by an older Garden and "
                      "cannot be mixed with 64-bit ones: rerun with --no-resume")
    return names


def count_signatures(work_dir: str, num_perm: int) -> int:
    """Documents with a signature: the rows of every shard's file (an older `.u32` file is an error)."""
    sig_dir = fs.join(work_dir, "signatures")
    return sum(fs.size(fs.join(sig_dir, f)) // (VALUE_BYTES * num_perm)
               for f in refuse_older_signatures(work_dir) if f.endswith(SUFFIX))


class SignatureWriter:
    """Appends one shard's signatures; the file appears under its final name only when complete."""

    def __init__(self, work_dir: str, shard: int) -> None:
        self.path = signature_path(work_dir, shard)
        self._staged = fs.StagedFile(self.path)
        self._fh = open(self._staged.local, "wb")
        self.shard = shard

    def write(self, sigs: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(sigs, dtype=SIGNATURE_DTYPE).tobytes())

    def close(self) -> None:
        self._fh.close()
        self._staged.commit()


class SignatureReader:
    """Signatures of any (shard, row), read row by row with pread.

    Not a memory map on purpose: touched pages of a map count in the process's RSS, and the
    candidates of one partition touch pages all over every shard's file, so a map makes memory
    grow with the corpus although nothing is kept. On an object store the rows are fetched
    with range requests, neighbouring rows coalesced (garden.io.fs.read_ranges).
    """

    def __init__(self, work_dir: str, num_perm: int) -> None:
        self.work_dir = work_dir
        self.num_perm = num_perm
        self.row_bytes = VALUE_BYTES * num_perm
        self._fds: dict[int, int] = {}
        self._remote = fs.is_url(work_dir)

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            fd = os.open(signature_path(self.work_dir, shard), os.O_RDONLY)
            self._fds[shard] = fd
        return fd

    def rows_in(self, shard: int) -> int:
        if self._remote:
            return fs.size(signature_path(self.work_dir, shard)) // self.row_bytes
        return os.fstat(self._fd(shard)).st_size // self.row_bytes

    def get(self, nodes: np.ndarray) -> np.ndarray:
        """Signatures [len(nodes), num_perm] in the order of `nodes`."""
        shards, rows = split_nodes(nodes)
        order = np.lexsort((rows, shards))  # read each file front to back
        buf = bytearray(len(nodes) * self.row_bytes)
        view = memoryview(buf)
        rb = self.row_bytes
        if self._remote:
            self._get_remote(shards, rows, order, view)
        else:
            for i in order.tolist():
                chunk = os.pread(self._fd(int(shards[i])), rb, int(rows[i]) * rb)
                self._put(view, i, chunk, shards[i], rows[i])
        return np.frombuffer(buf, dtype=SIGNATURE_DTYPE).reshape(len(nodes), self.num_perm)

    def _get_remote(self, shards: np.ndarray, rows: np.ndarray, order: np.ndarray, view: memoryview) -> None:
        rb = self.row_bytes
        by_shard: dict[int, list[int]] = {}
        for i in order.tolist():
            by_shard.setdefault(int(shards[i]), []).append(i)
        for shard, idx in by_shard.items():
            offsets = [int(rows[i]) * rb for i in idx]
            chunks = fs.read_ranges(signature_path(self.work_dir, shard), [(o, o + rb) for o in offsets])
            for i, chunk in zip(idx, chunks):
                self._put(view, i, chunk, shards[i], rows[i])

    def _put(self, view: memoryview, i: int, chunk: bytes, shard, row) -> None:
        rb = self.row_bytes
        if len(chunk) != rb:
            raise IOError(f"signature of shard {int(shard)} row {int(row)} is missing")
        view[i * rb:(i + 1) * rb] = chunk

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        self.close()
