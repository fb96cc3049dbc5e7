"""Helpers for global operators: read back what reduce wrote, one shard at a time."""
from __future__ import annotations

import glob
import os

import pyarrow as pa
import pyarrow.dataset as ds


def reduce_files(work_dir: str) -> list[str]:
    """The reduce outputs of the global stage whose private dir is `work_dir`."""
    stage_dir = os.path.dirname(work_dir.rstrip(os.sep))
    return sorted(glob.glob(os.path.join(stage_dir, "reduce", "p*.parquet")))


def rows_for_shard(files: list[str], shard: int, columns: list[str] | None = None) -> pa.Table:
    """Rows whose `shard` column equals `shard`; reduce sorts by shard, so row groups are skipped."""
    if not files:
        return pa.table({})
    dataset = ds.dataset(files, format="parquet")
    return dataset.to_table(columns=columns, filter=ds.field("shard") == shard)
