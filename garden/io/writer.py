"""Atomic shard writers: write to a staged file, move it into place when complete.

A reader never sees a half-written shard, and a killed run leaves only temp files that the
next run overwrites (locally) or nothing at all (object stores; see garden.io.fs).
"""
from __future__ import annotations

import json
import queue
import threading
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from garden.io import fs

EXTENSIONS = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "jsonl.zst": ".jsonl.zst"}


atomic_write_bytes = fs.atomic_write_bytes


def atomic_write_json(path: str, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode())


def read_json(path: str) -> Any:
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read())


def write_table(path: str, table: pa.Table, **kwargs: Any) -> None:
    """One parquet file (zstd), atomically."""
    with fs.StagedFile(path) as staged:
        pq.write_table(table, staged.local, compression="zstd", **kwargs)


def _open_text_stream(path: str, fmt: str):
    if fmt == "jsonl.gz":
        import gzip

        # mtime=0 keeps the gzip header, and so the output bytes, reproducible.
        return gzip.GzipFile(filename="", mode="wb", fileobj=open(path, "wb"), mtime=0, compresslevel=6)
    if fmt == "jsonl.zst":
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(open(path, "wb"), closefd=True)
    return open(path, "wb")


class _WriteThread:
    """Parquet batches made and written by one thread, in order, while the caller prepares the
    next ones: concatenating a batch's chunks, parquet encoding and zstd release the GIL, so a
    shard's reading and writing share two cores. At most DEPTH batches wait, so memory stays a
    few batches whatever the shard's size."""

    DEPTH = 2

    def __init__(self, writer: pq.ParquetWriter) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="garden-shard-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            make_batch = self._queue.get()
            if make_batch is None:
                return
            if self.error is None:  # after a failure, batches are only taken off the queue
                try:
                    self._writer.write_batch(make_batch())
                except BaseException as exc:  # handed to the caller at its next write or close
                    self.error = exc

    def put(self, make_batch: Callable[[], pa.RecordBatch]) -> None:
        self.raise_error()
        self._queue.put(make_batch)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def join(self) -> None:
        """Wait until every batch handed over is written (or the thread has failed)."""
        self._queue.put(None)
        self._thread.join()


class ShardWriter:
    """Writes rows (dicts) with a fixed Arrow schema to one shard file, atomically.

    `background=True` (parquet only): batches are written by a thread of their own (_WriteThread);
    the bytes are the same, and a write error surfaces at the next `write` or at `close`."""

    def __init__(self, path: str, schema: pa.Schema, fmt: str = "parquet", background: bool = False) -> None:
        self.path = path
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._thread: _WriteThread | None = None
        self._staged = fs.StagedFile(path)
        self._tmp = self._staged.local
        self._parquet: pq.ParquetWriter | None = None
        self._stream = None
        if fmt == "parquet":
            # Dictionaries and min/max statistics of unique long strings cost time and save nothing.
            plain = {"id", "text", "meta"}
            small = [n for n in schema.names if n not in plain]
            self._parquet = pq.ParquetWriter(self._tmp, schema, compression="zstd", use_dictionary=small,
                                             write_statistics=small)
            if background:
                self._thread = _WriteThread(self._parquet)
        else:
            self._stream = _open_text_stream(self._tmp, fmt)

    def write(self, rows: list[dict] | pa.Table) -> None:
        """Append rows: dicts, or a table with the writer's schema (written as the same bytes)."""
        if isinstance(rows, pa.Table):
            if not rows.num_rows:
                return
            if self._parquet is not None and rows.schema.names == self.schema.names:
                self.rows += rows.num_rows
                table, schema = rows, self.schema
                self._write_batch(lambda: table.cast(schema).combine_chunks().to_batches()[0])
                return
            rows = rows.to_pylist()
        if not rows:
            return
        self.rows += len(rows)
        if self._parquet is not None:
            batch = pa.RecordBatch.from_pylist(rows, schema=self.schema)
            self._write_batch(lambda: batch)
            return
        names = self.schema.names
        out = "".join(json.dumps({n: r.get(n) for n in names}, ensure_ascii=False) + "\n" for r in rows)
        self._stream.write(out.encode("utf-8"))

    def _write_batch(self, make_batch: Callable[[], pa.RecordBatch]) -> None:
        if self._thread is not None:
            self._thread.put(make_batch)
        else:
            self._parquet.write_batch(make_batch())

    def _join(self) -> BaseException | None:
        """Stop the write thread, if any, once it has written what it holds; its error, if any."""
        thread, self._thread = self._thread, None
        if thread is None:
            return None
        thread.join()
        return thread.error

    def close(self) -> None:
        error = self._join()
        if error is not None:
            self.abort()
            raise error
        if self._parquet is not None:
            self._parquet.close()
        else:
            self._stream.close()
        self._staged.commit()

    def abort(self) -> None:
        try:
            self._join()
            if self._parquet is not None:
                self._parquet.close()
            elif self._stream is not None:
                self._stream.close()
        finally:
            self._staged.abort()


def write_jsonl_atomic(path: str, rows: list[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
