"""Read back the shards a run wrote (stage outputs, data/, rejected/): parquet, or Garden's own
JSONL variants. One reader for the executor, the global operators, the report and `analyze`."""
from __future__ import annotations

import json
from typing import Iterable, Iterator

import pyarrow as pa

from garden.io import fs
from garden.io.inputs import open_decompressed


def _jsonl_objects(path: str) -> Iterator[dict]:
    with open_decompressed(path) as fh:
        for raw in fh:
            if raw.strip():
                yield json.loads(raw)


def read_output_batches(path: str, schema: pa.Schema | None = None, batch_size: int = 4096) -> Iterator[pa.RecordBatch]:
    """Record batches of an output shard; JSONL rows take `schema` (the stage's) when given."""
    if path.endswith(".parquet"):
        yield from fs.parquet_file(path).iter_batches(batch_size=batch_size)
        return
    rows: list[dict] = []
    for obj in _jsonl_objects(path):
        rows.append(obj)
        if len(rows) >= batch_size:
            yield pa.RecordBatch.from_pylist(rows, schema=schema)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def iter_rows(path: str, columns: Iterable[str] | None = None, batch_size: int = 4096) -> Iterator[dict]:
    """Rows of an output shard as dicts, restricted to `columns` that exist (all when None);
    parquet reads only those columns."""
    wanted = list(columns) if columns is not None else None
    if path.endswith(".parquet"):
        pf = fs.parquet_file(path)
        cols = [c for c in wanted if c in pf.schema_arrow.names] if wanted is not None else None
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            yield from batch.to_pylist()
        return
    for obj in _jsonl_objects(path):
        yield {c: obj.get(c) for c in wanted} if wanted is not None else obj
