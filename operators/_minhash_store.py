"""Per-shard signature files on disk: written row by row in scan, memory-mapped for look-ups.

Candidate verification (reduce) and the similarity reported for each dropped document
(finalize) need signatures of arbitrary documents; keeping them in one flat uint32 file per
shard lets both read exactly the rows they need without loading the corpus.
"""
from __future__ import annotations

import os

import numpy as np

ROW_BITS = 40  # node id = shard << 40 | row: sorts in stable input order


def node_ids(shard: int, first_row: int, n: int) -> np.ndarray:
    return (np.int64(shard) << np.int64(ROW_BITS)) + np.arange(first_row, first_row + n, dtype=np.int64)


def split_nodes(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.asarray(nodes, dtype=np.int64)
    return nodes >> np.int64(ROW_BITS), nodes & np.int64((1 << ROW_BITS) - 1)


def signature_path(work_dir: str, shard: int) -> str:
    return os.path.join(work_dir, "signatures", f"shard-{shard:05d}.u32")


class SignatureWriter:
    """Appends one shard's signatures; the file appears under its final name only when complete."""

    def __init__(self, work_dir: str, shard: int) -> None:
        self.path = signature_path(work_dir, shard)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._tmp = f"{self.path}.tmp-{os.getpid()}"
        self._fh = open(self._tmp, "wb")
        self.shard = shard

    def write(self, sigs: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(sigs, dtype=np.uint32).tobytes())

    def close(self) -> None:
        self._fh.close()
        os.replace(self._tmp, self.path)


class SignatureReader:
    """Signatures of any (shard, row), memory-mapped: only touched pages are read."""

    def __init__(self, work_dir: str, num_perm: int) -> None:
        self.work_dir = work_dir
        self.num_perm = num_perm
        self._maps: dict[int, np.ndarray] = {}

    def _shard(self, shard: int) -> np.ndarray:
        m = self._maps.get(shard)
        if m is None:
            path = signature_path(self.work_dir, shard)
            size = os.path.getsize(path)
            if size == 0:
                m = np.zeros((0, self.num_perm), dtype=np.uint32)
            else:
                m = np.memmap(path, dtype=np.uint32, mode="r", shape=(size // (4 * self.num_perm), self.num_perm))
            self._maps[shard] = m
        return m

    def get(self, nodes: np.ndarray) -> np.ndarray:
        """Signatures [len(nodes), num_perm] in the order of `nodes`."""
        shards, rows = split_nodes(nodes)
        out = np.empty((len(nodes), self.num_perm), dtype=np.uint32)
        for s in np.unique(shards):
            sel = shards == s
            out[sel] = self._shard(int(s))[rows[sel]]
        return out
