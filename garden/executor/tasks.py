"""The units of work: one typed, frozen task per shard or partition, with `run()`.

    StreamTask    one shard through a stage's fused mappers/filters (and a global op's apply)
    ScanTask      a global op's map phase over one shard of the previous stage's output
    ReduceTask    a global op's reduce phase over one partition, from every shard
    FinalizeTask  a global op's finalize, once, on the driver

The planner (garden.executor.planning) builds them; executors only call `task.run()`, in-process,
in a local process pool or as Ray tasks, so tasks hold only picklable values. A task writes its
outputs atomically and then its completion marker; a re-run skips tasks whose marker exists.
`outputs()` names what a task writes, which is what Ray's clean-up of a killed attempt removes
temp files next to.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter, defaultdict
from typing import Any, Callable, ClassVar, Iterator, Protocol, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from garden.executor.fused import OpRun
from garden.executor.stats import (FinalizeResult, ReduceResult, ScanResult, SourceCounts, StreamResult)
from garden.io.identity import check_unchanged
from garden.io.inputs import InputShard
from garden.io.reader import DocBatch, ReadResult, read_batches
from garden.io import fs
from garden.io.outputs import read_output_batches
from garden.io.writer import ShardWriter, atomic_write_json, write_jsonl_atomic, write_table
from garden.operator import GlobalOp, Operator, StageContext
from garden.recipe import OpSpec

_OPS: dict[str, Operator] = {}
_PROGRESS: Callable[[int, int, int], None] | None = None


def set_progress(callback: Callable[[int, int, int], None] | None) -> None:
    global _PROGRESS
    _PROGRESS = callback


def init_worker(queue) -> None:
    """Process-pool initializer: freed memory is kept (garden.malloc), and progress goes to the
    driver through a queue. Arrow keeps a thread per core in every worker: capping it at
    cores/workers was slower, since a worker left alone with the last shard could then use only
    its share."""
    from garden.malloc import keep_freed_memory

    keep_freed_memory()
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


def get_op(spec: OpSpec, prepare: StageContext | None = None) -> Operator:
    """One instance per process and configuration: models load once, not once per shard."""
    key = json.dumps([spec.name, spec.run_params, dataclasses.asdict(prepare) if prepare else None],
                     sort_keys=True, default=str)
    op = _OPS.get(key)
    if op is None:
        op = spec.build()
        if prepare is not None:
            op.prepare_apply(prepare)  # type: ignore[union-attr]
        _OPS[key] = op
    return op


def _utf8(value: Any) -> Any:
    """A string that UTF-8 can encode: a lone surrogate from an operator becomes the text '\\ud800'."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _write_marker(path: str, result: StreamResult | ScanResult | ReduceResult | FinalizeResult) -> None:
    atomic_write_json(path, result.to_dict())


@dataclasses.dataclass(frozen=True)
class Output:
    """A location a task writes: a file, or a folder it writes files under."""

    path: str
    is_dir: bool = False


@dataclasses.dataclass(frozen=True)
class StageInput:
    """A previous stage's output shard, read as a task's input."""

    path: str
    schema: pa.Schema | None


@dataclasses.dataclass(frozen=True)
class StreamStep:
    """One operator of a fused stream stage, as a worker builds it."""

    spec: OpSpec
    label: str                          # rejected/<label>/
    prepare: StageContext | None = None  # set for a global op's apply: the context of its prepare_apply

    @property
    def key(self) -> str:
        return f"{self.spec.index}:{self.spec.name}"


@dataclasses.dataclass(frozen=True)
class RejectSink:
    """Where one step's dropped documents of a shard go, with their schema."""

    label: str
    schema: pa.Schema
    path: str


@dataclasses.dataclass(frozen=True)
class StreamTask:
    """Read one shard, run the fused operators, write kept/rejected/quarantined documents."""

    kind: ClassVar[str] = "stream"
    stage: int
    shard: int
    steps: tuple[StreamStep, ...]
    schema: pa.Schema                 # of the rows it writes
    source: InputShard | StageInput   # an input file's shard (first stage) or a previous stage's output
    out_path: str
    out_format: str
    batch_size: int
    max_record_bytes: int
    rejects: tuple[RejectSink, ...]
    quarantine_path: str
    marker: str
    ids_path: str = ""                # first stage only: the shard's id hashes (cross-shard id check)

    def outputs(self) -> list[Output]:
        outs = [Output(self.out_path), *(Output(r.path) for r in self.rejects), Output(self.quarantine_path)]
        if self.ids_path:
            outs.append(Output(self.ids_path))
        return outs + [Output(self.marker)]

    def inputs(self) -> list[str]:
        return [self.source.path]

    def paths(self) -> list[str]:
        """Every path it names: what it reads, what it writes, its apply step's folders."""
        folders = [p for s in self.steps if s.prepare is not None for p in (s.prepare.run_dir, s.prepare.work_dir)]
        return self.inputs() + [o.path for o in self.outputs()] + folders

    def describe(self) -> str:
        return f"stage {self.stage} (stream) shard {self.shard} ({self.source.path})"

    def run(self) -> StreamResult:
        start = time.perf_counter()
        stage = self.stage
        runs = [OpRun(step.key, step.label, get_op(step.spec, step.prepare), is_apply=step.prepare is not None,
                      shard=self.shard, sources=step.spec.sources) for step in self.steps]
        sinks = {r.label: r for r in self.rejects}
        writer = ShardWriter(self.out_path, self.schema, self.out_format, background=True)
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
                        sink = sinks[label]
                        reject_writers[label] = ShardWriter(sink.path, sink.schema, self.out_format)
                    reject_writers[label].write(rows)
            reject_buf.clear()

        read_result = ReadResult()
        shard = self.source if isinstance(self.source, InputShard) else None
        if shard is not None:
            check_unchanged(shard.path, shard.identity)  # a shard never mixes two versions of a file
            batches: Iterator[list[dict] | DocBatch] = read_batches(shard, read_result, self.batch_size,
                                                                    self.max_record_bytes)
        else:
            batches = (b.to_pylist() for b in read_output_batches(self.source.path, self.source.schema, self.batch_size))

        n_in = n_out = 0
        try:
            for docs in batches:
                if isinstance(docs, DocBatch) and not runs:  # nothing to run: write the batch as read
                    n, chars = len(docs), docs.text_chars()
                    n_in, n_out = n_in + n, n_out + n
                    counts = sources[shard.source]
                    counts["in"] += n
                    counts["kept"] += n
                    counts["chars_in"] += chars
                    counts["chars_out"] += chars
                    writer.write(docs.table())
                    _report(stage, n, chars)
                    continue
                if isinstance(docs, DocBatch):
                    docs = docs.rows()
                n_batch = len(docs)
                n_in += n_batch
                nbytes = sum(len(d["text"]) for d in docs)
                for doc in docs:
                    counts = sources[doc["source"]]
                    counts["in"] += 1
                    counts["chars_in"] += len(doc["text"] or "")
                for run in runs:
                    docs = run.run(docs, reject, quarantine)
                writer.write(docs)
                for doc in docs:
                    counts = sources[doc["source"]]
                    counts["kept"] += 1
                    counts["chars_out"] += len(doc.get("text") or "")
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
            write_jsonl_atomic(self.quarantine_path, all_quarantine)
        if self.ids_path:
            from garden.executor.id_check import write_id_hashes

            write_id_hashes(self.ids_path, read_result.ids, read_result.id_hashes)
        writer.close()
        for w in reject_writers.values():
            w.close()
        result = StreamResult(
            shard=self.shard, n_in=n_in + len(read_quarantine), read_quarantined=len(read_quarantine),
            op_quarantined=len(quarantined), blank_lines=read_result.blank_lines, n_out=n_out,
            ops={run.key: run.stats() for run in runs},
            sources={s: SourceCounts(c["in"], c["kept"], c["rejected"], c["quarantined"], c["chars_in"], c["chars_out"])
                     for s, c in sorted(sources.items())},
            seconds=round(time.perf_counter() - start, 4))
        _write_marker(self.marker, result)
        return result


@dataclasses.dataclass(frozen=True)
class ScanTask:
    """Global op, map phase: scan one shard, write rows grouped by partition."""

    kind: ClassVar[str] = "scan"
    stage: int
    shard: int
    spec: OpSpec
    ctx: StageContext      # shard, num_shards, shard_dir (scan_side_outputs), work_dir, artifacts
    source: StageInput
    batch_size: int
    out_dir: str
    marker: str

    def outputs(self) -> list[Output]:
        outs = [Output(self.out_dir, is_dir=True)]
        if self.ctx.shard_dir:
            outs.append(Output(self.ctx.shard_dir, is_dir=True))
        return outs + [Output(self.marker)]

    def inputs(self) -> list[str]:
        return [self.source.path]

    def paths(self) -> list[str]:
        """Every path it names: what it reads, what it writes, its operator's folders."""
        return self.inputs() + [o.path for o in self.outputs()] + [self.ctx.run_dir, self.ctx.work_dir]

    def describe(self) -> str:
        return f"stage {self.stage} ({self.spec.name} scan) shard {self.shard} ({self.source.path})"

    def run(self) -> ScanResult:
        start = time.perf_counter()
        op = get_op(self.spec)
        assert isinstance(op, GlobalOp)
        ctx = dataclasses.replace(self.ctx)  # row_offset changes per batch; the task stays as planned
        if ctx.shard_dir:
            fs.makedirs(ctx.shard_dir)
        tables: list[pa.Table] = []
        rows = 0
        for batch in read_output_batches(self.source.path, self.source.schema, self.batch_size):
            ctx.row_offset = rows
            rows += batch.num_rows
            out = op.scan(batch, ctx)
            if out is not None and out.num_rows:
                tables.append(out)
            text_bytes = pc.sum(pc.binary_length(batch.column("text"))).as_py() if "text" in batch.schema.names else 0
            _report(self.stage, batch.num_rows, text_bytes or 0)
        tail = op.scan_end(ctx)
        if tail is not None and tail.num_rows:
            tables.append(tail)
        written = 0
        partitions: list[int] = []  # which pNNNN files exist: reduce opens them without listing
        if tables:
            table = pa.concat_tables(tables)
            written = table.num_rows
            if op.num_partitions:
                parts = table.column("partition")
                for p in range(op.num_partitions):
                    piece = table.filter(pc.equal(parts, p))
                    if piece.num_rows:
                        write_table(fs.join(self.out_dir, f"p{p:04d}.parquet"), piece)
                        partitions.append(p)
            else:
                write_table(fs.join(self.out_dir, "rows.parquet"), table)
        result = ScanResult(self.shard, rows, written, partitions, round(time.perf_counter() - start, 4))
        _write_marker(self.marker, result)
        return result


@dataclasses.dataclass(frozen=True)
class ReduceTask:
    """Global op, reduce phase: all rows of one partition, from every shard."""

    kind: ClassVar[str] = "reduce"
    stage: int
    partition: int
    spec: OpSpec
    ctx: StageContext
    scan_dir: str
    files: tuple[str, ...] | None   # the scan outputs of this partition; None: scan markers of an older run
    out_path: str
    marker: str

    def outputs(self) -> list[Output]:
        return [Output(self.out_path), Output(self.marker)]

    def inputs(self) -> list[str]:
        return [self.scan_dir, *(self.files or ())]

    def paths(self) -> list[str]:
        """Every path it names: what it reads, what it writes, its operator's folders."""
        return self.inputs() + [o.path for o in self.outputs()] + [self.ctx.run_dir, self.ctx.work_dir]

    def describe(self) -> str:
        return f"stage {self.stage} ({self.spec.name} reduce) partition {self.partition}"

    def run(self) -> ReduceResult:
        start = time.perf_counter()
        op = get_op(self.spec)
        assert isinstance(op, GlobalOp)
        part = self.partition
        files = list(self.files) if self.files is not None else \
            fs.glob(fs.join(self.scan_dir, "shard-*", f"p{part:04d}.parquet"))  # older markers do not say

        def rows() -> Iterator[pa.RecordBatch]:
            if files and fs.is_url(files[0]):  # many small files: fetched whole, several at a time
                for _, data in fs.prefetched(files):
                    yield from pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=65536)
                return
            for f in files:
                yield from fs.parquet_file(f).iter_batches(batch_size=65536)

        out = op.reduce(part, rows(), dataclasses.replace(self.ctx))
        n = 0
        if out is not None and out.num_rows:
            n = out.num_rows
            write_table(self.out_path, out)
        result = ReduceResult(part, len(files), n, round(time.perf_counter() - start, 4))
        _write_marker(self.marker, result)
        return result


@dataclasses.dataclass(frozen=True)
class FinalizeTask:
    """Global op, finalize: once, on the driver, after every scan and reduce task."""

    kind: ClassVar[str] = "finalize"
    stage: int
    spec: OpSpec
    ctx: StageContext   # num_shards, input_shards (the scanned shards), work_dir, run_dir, artifacts
    marker: str

    def outputs(self) -> list[Output]:
        """Its private folder, the folders its parameters name (`output_params`) and its marker.

        Its files at the top of the run folder are known only once it ran (an operator may write
        more there than it declares, e.g. dedup/): `run()` reports them in `FinalizeResult.created`,
        which the run folder records as this step's."""
        cls = self.spec.cls
        folders = [Output(fs.join(self.ctx.run_dir, str(self.spec.params[p])), is_dir=True)
                   for p in cls.output_params if self.spec.params.get(p) is not None]
        return [Output(self.ctx.work_dir, is_dir=True), *folders, Output(self.marker)]

    def inputs(self) -> list[str]:
        return list(self.ctx.input_shards)

    def paths(self) -> list[str]:
        """Every path it names: what it reads, what it writes, its operator's folders."""
        return self.inputs() + [o.path for o in self.outputs()] + [self.ctx.run_dir, self.ctx.work_dir]

    def describe(self) -> str:
        return f"stage {self.stage} ({self.spec.name} finalize)"

    def run(self) -> FinalizeResult:
        start = time.perf_counter()
        op = self.spec.build()  # the driver's own instance, not the worker cache
        assert isinstance(op, GlobalOp)
        ctx = dataclasses.replace(self.ctx)
        fs.makedirs(ctx.work_dir)
        before = set(fs.listdir(ctx.run_dir))
        final = op.finalize(ctx) or {}
        created = tuple(sorted(set(fs.listdir(ctx.run_dir)) - before))
        result = FinalizeResult(figures={k: v for k, v in final.items() if k not in ("artifacts", "seconds")},
                                artifacts=final.get("artifacts"), seconds=round(time.perf_counter() - start, 3),
                                created=created)
        _write_marker(self.marker, result)
        return result


Task = Union[StreamTask, ScanTask, ReduceTask, FinalizeTask]
Result = Union[StreamResult, ScanResult, ReduceResult, FinalizeResult]


class Executor(Protocol):
    """What runs tasks: garden.executor.pool.LocalExecutor or garden.executor.ray_executor.RayExecutor.

    `run` calls each task's `run()` and yields the results as tasks complete; a failure names the
    task by its `describe()`."""

    name: str
    workers: int

    def run(self, task_list: list, /) -> Iterator[Any]: ...

    def close(self) -> None: ...


def run_task(task: Task) -> Result:
    """The process pool's entry point (garden.executor.pool): a module-level function a worker can
    be handed by name."""
    return task.run()
