"""Exact deduplication: one keeper per normalised-text hash, chosen deterministically."""
from __future__ import annotations

from typing import ClassVar, Iterator

import numpy as np
import pyarrow as pa

from garden.hashing import hash64
from garden.io import fs
from garden.operator import Doc, GlobalOp, StageContext, Verdict
from garden.registry import register
from garden.shuffle import reduce_files, rows_for_shard
from garden.text import normalize_key
from operators.dedup.keep_rule import KeepRule, keeper_order


def text_hash(text: str) -> int:
    return hash64(normalize_key(text), byteorder="little")


@register
class ExactDedup(GlobalOp):
    """Drop documents whose normalised text (NFKC, casefold, whitespace) equals an earlier keeper's."""

    name = "exact_dedup"
    keep: str = "first"
    param_docs = {"keep": "which copy survives: first (input order) | longest | highest:<column>"}
    num_partitions: ClassVar[int] = 16
    has_apply: ClassVar[bool] = True
    reject_outputs: ClassVar[dict] = {"duplicate_of": pa.string()}

    @staticmethod
    def validate_params(params: dict) -> None:
        KeepRule.parse(params["keep"])

    def setup(self) -> None:
        self._rule = KeepRule.parse(self.keep)
        self._shard = -1
        self._drops: dict[str, str] = {}

    def scan(self, batch: pa.RecordBatch, ctx: StageContext) -> pa.Table:
        texts = batch.column("text").to_pylist()
        hashes = np.fromiter((text_hash(t) for t in texts), dtype=np.uint64, count=len(texts))
        n = len(texts)
        return pa.table({
            "partition": pa.array((hashes % self.num_partitions).astype(np.int32)),
            "hash": pa.array(hashes),
            "id": batch.column("id"),
            "shard": pa.array(np.full(n, ctx.shard, dtype=np.int32)),
            "row": pa.array(np.arange(ctx.row_offset, ctx.row_offset + n, dtype=np.int64)),
            "score": self._rule.scores(batch),
        })

    def reduce(self, partition: int, rows: Iterator[pa.RecordBatch], ctx: StageContext) -> pa.Table | None:
        batches = list(rows)
        if not batches:
            return None
        table = pa.Table.from_batches(batches)
        order = keeper_order(table, "hash")  # rows sorted by (hash, keeper first)
        hashes = table.column("hash").to_numpy()[order]
        ids = np.array(table.column("id").to_pylist(), dtype=object)[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = hashes[1:] != hashes[:-1]
        keeper_idx = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        dup = ~first
        out = pa.table({
            "shard": table.column("shard").to_numpy()[order][dup],
            "id": pa.array(ids[dup].tolist(), pa.string()),
            "duplicate_of": pa.array(ids[keeper_idx][dup].tolist(), pa.string()),
        })
        return out.sort_by([("shard", "ascending")])

    def finalize(self, ctx: StageContext) -> dict:
        files = reduce_files(ctx.work_dir)
        drops = sum(fs.parquet_file(f).metadata.num_rows for f in files) if files else 0
        return {"duplicates": drops}

    def prepare_apply(self, ctx: StageContext) -> None:
        self._files = reduce_files(ctx.work_dir)

    def apply(self, docs: list[Doc], shard: int) -> list[Verdict]:
        if shard != self._shard:
            table = rows_for_shard(self._files, shard, ["id", "duplicate_of"])
            self._drops = dict(zip(table.column("id").to_pylist(), table.column("duplicate_of").to_pylist())) if table.num_rows else {}
            self._shard = shard
        out: list[Verdict] = []
        for doc in docs:
            keeper = self._drops.get(doc["id"])
            if keeper is None:
                out.append(True)
            else:
                doc["duplicate_of"] = keeper
                out.append("duplicate")
        return out
