"""Which member of a duplicate group survives: shared by exact and near-duplicate removal."""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class KeepRule:
    kind: str          # first | longest | highest
    column: str = ""

    @classmethod
    def parse(cls, spec: str) -> "KeepRule":
        if spec in ("first", "longest"):
            return cls(spec)
        if spec.startswith("highest:") and len(spec) > len("highest:"):
            return cls("highest", spec.split(":", 1)[1])
        raise ValueError(f"keep must be first, longest or highest:<column>, got {spec!r}")

    def scores(self, batch: pa.RecordBatch) -> pa.Array:
        """Per-row score, higher wins; ties go to the earliest (shard, row)."""
        n = batch.num_rows
        if self.kind == "first":
            return pa.array(np.zeros(n, dtype=np.float64))
        if self.kind == "longest":
            return pa.array(np.array([len(t) for t in batch.column("text").to_pylist()], dtype=np.float64))
        if self.column not in batch.schema.names:
            raise ValueError(f"keep: highest:{self.column}: no column '{self.column}' (add the operator that makes it earlier)")
        values = batch.column(self.column).to_pylist()
        return pa.array(np.array([float("-inf") if v is None else float(v) for v in values], dtype=np.float64))


def keeper_order(table: pa.Table, group_column: str) -> np.ndarray:
    """Row order sorting by group, then keeper first: highest score, then earliest (shard, row)."""
    return np.lexsort((
        table.column("row").to_numpy(),
        table.column("shard").to_numpy(),
        -table.column("score").to_numpy(),
        table.column(group_column).to_numpy(),
    ))
