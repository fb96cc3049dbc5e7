"""Worker-side task functions. Each takes one plain dict and does one shard or partition.

The same functions run in-process, in a local process pool or as Ray tasks. A task writes its
outputs atomically and then its completion marker; a re-run skips tasks whose marker exists.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from garden import registry
from garden.executor.fused import OpRun
from garden.io.identity import check_unchanged
from garden.io.inputs import InputShard
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES
from garden.io.reader import DocBatch, ReadResult, read_batches
from garden.io import fs
from garden.io.writer import ShardWriter, atomic_write_json, write_jsonl_atomic, write_table
from garden.operator import GlobalOp, Operator, StageContext

_OPS: dict[str, Operator] = {}
_PROGRESS: Callable[[int, int, int], None] | None = None


def set_progress(callback: Callable[[int, int, int], None] | None) -> None:
    global _PROGRESS
    _PROGRESS = callback


def init_worker(queue) -> None:
    """Process-pool initializer: progress goes to the driver through a queue."""
    set_progress(lambda stage, docs, nbytes: queue.put((stage, docs, nbytes)))
    _exit_with_parent()


def _exit_with_parent() -> None:
    """A worker whose driver was killed (kill -9) must not linger: watch the parent pid."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="garden-parent-watch", daemon=True).start()


def _report(stage: int, docs: int, nbytes: int) -> None:
    if _PROGRESS is not None and (docs or nbytes):
        _PROGRESS(stage, docs, nbytes)


def get_op(name: str, params: dict, prepare: dict | None = None) -> Operator:
    """One instance per process and configuration: models load once, not once per shard."""
    key = json.dumps([name, params, prepare], sort_keys=True, default=str)
    op = _OPS.get(key)
    if op is None:
        op = registry.get(name)(**params)
        if prepare is not None:
            op.prepare_apply(StageContext(**prepare))  # type: ignore[union-attr]
        _OPS[key] = op
    return op


def read_output(path: str, schema: pa.Schema | None, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of a stage output shard (parquet, or Garden's own jsonl variants)."""
    if path.endswith(".parquet"):
        pf = fs.parquet_file(path)
        yield from pf.iter_batches(batch_size=batch_size)
        return
    from garden.io.inputs import open_decompressed

    rows: list[dict] = []
    with open_decompressed(path) as fh:
        for raw in fh:
            rows.append(json.loads(raw))
            if len(rows) >= batch_size:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)
                rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _utf8(value: Any) -> Any:
    """A string that UTF-8 can encode: a lone surrogate from an operator becomes the text '\\ud800'."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _write_marker(path: str, stats: dict) -> None:
    atomic_write_json(path, stats)


def run_stream_task(task: dict) -> dict:
    """Read one shard, run the fused operators, write kept/rejected/quarantined documents."""
    start = time.perf_counter()
    stage = task["stage"]
    runs: list[OpRun] = []
    for spec in task["ops"]:
        prepare = spec.get("prepare")
        op = get_op(spec["name"], spec["params"], prepare)
        runs.append(OpRun(spec["key"], spec["label"], op, is_apply=prepare is not None, shard=task["shard"],
                          sources=spec.get("sources")))

    writer = ShardWriter(task["out_path"], task["schema"], task["out_format"])
    reject_buf: dict[str, list[dict]] = defaultdict(list)
    reject_writers: dict[str, ShardWriter] = {}
    quarantined: list[dict] = []
    sources: dict[str, Counter] = defaultdict(Counter)

    def reject(label: str, doc: dict, reason: str) -> None:
        reject_buf[label].append({**doc, "reason": reason})
        sources[doc["source"]]["rejected"] += 1

    def quarantine(doc: dict, error: str) -> None:
        quarantined.append({"id": _utf8(doc.get("id")), "source": doc.get("source"), "stage": stage,
                            "error": _utf8(error), "snippet": _utf8((doc.get("text") or "")[:200])})
        sources[doc.get("source") or ""]["quarantined"] += 1

    def flush_rejects() -> None:
        for label, rows in reject_buf.items():
            if rows:
                if label not in reject_writers:
                    info = task["rejects"][label]
                    reject_writers[label] = ShardWriter(info["path"], info["schema"], task["out_format"])
                reject_writers[label].write(rows)
        reject_buf.clear()

    read_result = ReadResult()
    shard = None
    if task.get("input_shard"):
        shard = InputShard(**task["input_shard"])
        check_unchanged(shard.path, shard.identity)  # a shard never mixes two versions of a file
        batches: Iterator[list[dict] | DocBatch] = read_batches(shard, read_result, task["batch_size"],
                                                                task.get("max_record_bytes", DEFAULT_MAX_RECORD_BYTES))
    else:
        batches = (b.to_pylist() for b in read_output(task["in_path"], task["in_schema"], task["batch_size"]))

    n_in = n_out = 0
    try:
        for docs in batches:
            if isinstance(docs, DocBatch) and not runs:  # nothing to run: write the batch as read
                n = len(docs)
                n_in, n_out = n_in + n, n_out + n
                sources[shard.source]["in"] += n
                sources[shard.source]["kept"] += n
                writer.write(docs.table())
                _report(stage, n, docs.text_chars())
                continue
            if isinstance(docs, DocBatch):
                docs = docs.rows()
            n_batch = len(docs)
            n_in += n_batch
            nbytes = sum(len(d["text"]) for d in docs)
            for doc in docs:
                sources[doc["source"]]["in"] += 1
            for run in runs:
                docs = run.run(docs, reject, quarantine)
            writer.write(docs)
            for doc in docs:
                sources[doc["source"]]["kept"] += 1
            n_out += len(docs)
            flush_rejects()
            _report(stage, n_batch, nbytes)
        if shard is not None:
            check_unchanged(shard.path, shard.identity)  # changed while read: commit nothing
    except BaseException:
        writer.abort()
        for w in reject_writers.values():
            w.abort()
        raise

    read_quarantine = read_result.quarantine
    for q in read_quarantine:
        sources[q["source"]]["in"] += 1
        sources[q["source"]]["quarantined"] += 1
    all_quarantine = read_quarantine + quarantined
    if all_quarantine:
        write_jsonl_atomic(task["quarantine_path"], all_quarantine)
    if task.get("ids_path"):
        from garden.executor.id_check import write_id_hashes

        write_id_hashes(task["ids_path"], read_result.ids)
    writer.close()
    for w in reject_writers.values():
        w.close()
    stats = {
        "shard": task["shard"],
        "in": n_in + len(read_quarantine),
        "read_quarantined": len(read_quarantine),
        "op_quarantined": len(quarantined),
        "blank_lines": read_result.blank_lines,
        "out": n_out,
        "ops": {run.key: run.stats() for run in runs},
        "sources": {s: dict(c) for s, c in sorted(sources.items())},
        "seconds": round(time.perf_counter() - start, 4),
    }
    _write_marker(task["marker"], stats)
    return stats


def run_scan_task(task: dict) -> dict:
    """Global op, map phase: scan one shard, write rows grouped by partition."""
    start = time.perf_counter()
    op = get_op(task["name"], task["params"])
    assert isinstance(op, GlobalOp)
    ctx = StageContext(**task["ctx"])
    if ctx.shard_dir:
        fs.makedirs(ctx.shard_dir)
    tables: list[pa.Table] = []
    rows = 0
    for batch in read_output(task["in_path"], task["in_schema"], task["batch_size"]):
        ctx.row_offset = rows
        rows += batch.num_rows
        out = op.scan(batch, ctx)
        if out is not None and out.num_rows:
            tables.append(out)
        text_bytes = pc.sum(pc.binary_length(batch.column("text"))).as_py() if "text" in batch.schema.names else 0
        _report(task["stage"], batch.num_rows, text_bytes or 0)
    tail = op.scan_end(ctx)
    if tail is not None and tail.num_rows:
        tables.append(tail)
    written = 0
    out_dir = task["out_dir"]
    partitions: list[int] = []  # which pNNNN files exist: reduce opens them without listing
    if tables:
        table = pa.concat_tables(tables)
        written = table.num_rows
        if op.num_partitions:
            parts = table.column("partition")
            for p in range(op.num_partitions):
                piece = table.filter(pc.equal(parts, p))
                if piece.num_rows:
                    write_table(fs.join(out_dir, f"p{p:04d}.parquet"), piece)
                    partitions.append(p)
        else:
            write_table(fs.join(out_dir, "rows.parquet"), table)
    stats = {"shard": task["shard"], "rows_in": rows, "rows_out": written, "partitions": partitions,
             "seconds": round(time.perf_counter() - start, 4)}
    _write_marker(task["marker"], stats)
    return stats


def run_reduce_task(task: dict) -> dict:
    """Global op, reduce phase: all rows of one partition, from every shard."""
    start = time.perf_counter()
    op = get_op(task["name"], task["params"])
    assert isinstance(op, GlobalOp)
    ctx = StageContext(**task["ctx"])
    part = task["partition"]
    files = task.get("files")
    if files is None:  # scan markers of an older run do not say which partitions they wrote
        files = fs.glob(fs.join(task["scan_dir"], "shard-*", f"p{part:04d}.parquet"))

    def rows() -> Iterator[pa.RecordBatch]:
        if files and fs.is_url(files[0]):  # many small files: fetched whole, several at a time
            for _, data in fs.prefetched(files):
                yield from pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=65536)
            return
        for f in files:
            yield from fs.parquet_file(f).iter_batches(batch_size=65536)

    out = op.reduce(part, rows(), ctx)
    n = 0
    if out is not None and out.num_rows:
        n = out.num_rows
        write_table(task["out_path"], out)
    stats = {"partition": part, "files": len(files), "rows_out": n, "seconds": round(time.perf_counter() - start, 4)}
    _write_marker(task["marker"], stats)
    return stats


def call(fn_name: str, task: dict) -> Any:
    """Dispatch by name, so executors ship only plain data."""
    return {"stream": run_stream_task, "scan": run_scan_task, "reduce": run_reduce_task}[fn_name](task)
