"""Helpers for global operators: read back what reduce wrote, one shard at a time."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from garden.io import fs


def reduce_files(work_dir: str) -> list[str]:
    """The reduce outputs of the global stage whose private dir is `work_dir`."""
    stage_dir = fs.dirname(work_dir.rstrip("/"))
    return fs.glob(fs.join(stage_dir, "reduce", "p*.parquet"))


def rows_for_shard(files: list[str], shard: int, columns: list[str] | None = None) -> pa.Table:
    """Rows whose `shard` column equals `shard`; reduce sorts by shard, so row groups are skipped."""
    if not files:
        return pa.table({})
    paths, filesystem = fs.arrow_many(files)
    dataset = ds.dataset(paths, format="parquet", filesystem=filesystem)
    return dataset.to_table(columns=columns, filter=ds.field("shard") == shard)
