"""Stream inputs once and keep a deterministic sample: the N documents with the smallest hash.

A bottom-N sample by hash of (seed, source, id) is the same whatever the worker count, the
shard boundaries or the input order, and needs memory for N documents only. Every document
still counts toward the totals (documents, characters, quarantined records per source).
"""
from __future__ import annotations

import dataclasses
import heapq
from collections import Counter
from typing import Iterator

from garden.hashing import seeded_hash64
from garden.io import fs
from garden.messages import printable
from garden.io.inputs import InputShard, plan_inputs
from garden.io.reader import ReadResult, read_shard
from garden.recipe import INPUT_SUFFIXES, InputSpec

RUN_COLUMNS = {"id", "text", "source", "meta"}
BATCH = 2000


@dataclasses.dataclass(frozen=True)
class SampleTask:
    """One unit of reading: a raw input shard, or one file of a run's output (data/, rejected/)."""

    shard: dict | None = None      # InputShard.to_dict() for raw input
    output_file: str = ""          # a Garden output file (keeps source and annotation columns)
    size: int = 0


def priority(seed: int, source: str, doc_id: str) -> int:
    """64-bit hash deciding sample membership (smallest N win)."""
    # surrogatepass: ids made from file names that are not UTF-8
    return seeded_hash64(seed, source, doc_id, byteorder="big", errors="surrogatepass")


def source_name(path: str) -> str:
    """en_fortunes.jsonl.gz → en_fortunes; bytes that are not UTF-8 become \\xNN (JSON and HTML need text)."""
    name = printable(path.rstrip("/").rsplit("/", 1)[-1])
    for suffix in sorted(INPUT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _is_run_output_file(path: str) -> bool:
    if not path.endswith(".parquet"):
        return False
    try:
        names = set(fs.parquet_file(path).schema_arrow.names)
    except Exception:
        return False
    return RUN_COLUMNS <= names


def _expand(arg: str) -> list[str]:
    if any(ch in arg for ch in "*?["):
        return fs.glob(arg)
    return [arg] if fs.exists(arg) else []


def _run_output_files(directory: str) -> list[str]:
    """A run directory → its data/ files; a data/ (or rejected/<op>/) directory → its part files."""
    from garden.analysis.run_files import part_files

    data = fs.join(directory, "data")
    if fs.isfile(fs.join(directory, "stats.json")) and fs.isdir(data):
        return part_files(data)  # Garden's own shards only: a file a user dropped there is no output
    parent = fs.dirname(directory.rstrip("/"))
    if any(fs.isfile(fs.join(d, "stats.json")) for d in (parent, fs.dirname(parent))):
        return part_files(directory)  # data/ or rejected/<op>/ of a run
    files = []
    for suffix in (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst"):
        files += fs.glob(fs.join(directory, f"*{suffix}"))
    return sorted(f for f in files if not fs.is_temp_name(f.rsplit("/", 1)[-1]))


def plan_tasks(paths: list[str], shard_size: int = 32 << 20, text_field: str = "text",
               id_field: str = "id") -> list[SampleTask]:
    """Reading tasks for files, globs, run directories and data/ directories."""
    tasks: list[SampleTask] = []
    missing = []
    for arg in paths:
        matches = _expand(arg)
        if not matches:
            missing.append(arg)
        for path in matches:
            if fs.isdir(path):
                files = _run_output_files(path)
                if not files:
                    raise FileNotFoundError(f"{path}: no run output (data/part-*.parquet|jsonl*) or input files in it")
                parent_is_run = any(fs.isfile(fs.join(p, "stats.json"))
                                    for p in (path, fs.dirname(path.rstrip("/"))))
                for f in files:
                    if parent_is_run or _is_run_output_file(f):
                        tasks.append(SampleTask(output_file=f, size=fs.size(f)))
                    else:
                        tasks += _raw_tasks(f, shard_size, text_field, id_field)
            elif _is_run_output_file(path):
                tasks.append(SampleTask(output_file=path, size=fs.size(path)))
            else:
                tasks += _raw_tasks(path, shard_size, text_field, id_field)
    if missing:
        raise FileNotFoundError(f"no files match: {', '.join(missing)}")
    return tasks


def _raw_tasks(path: str, shard_size: int, text_field: str, id_field: str) -> list[SampleTask]:
    spec = InputSpec(path=path, source=source_name(path), text_field=text_field, id_field=id_field)
    return [SampleTask(shard=s.to_dict(), size=s.size) for s in plan_inputs([spec], shard_size)]


def _batches(task: SampleTask, result: ReadResult) -> Iterator[list[dict]]:
    if task.shard is not None:
        for docs in read_shard(InputShard(**task.shard), result, BATCH):
            for d in docs:  # ids made from a file name that is not UTF-8 hold surrogates
                if isinstance(d.get("id"), str):
                    d["id"] = printable(d["id"])
            yield docs
        return
    from garden.io.outputs import read_output_batches

    for batch in read_output_batches(task.output_file, None, BATCH):
        docs = batch.to_pylist()
        for d in docs:
            d.setdefault("source", source_name(task.output_file))
            d["source"] = d["source"] or "unknown"
        yield docs


def sample_task(task: SampleTask, n: int, seed: int) -> dict:
    """Bottom-n documents of one task by priority, and totals over all its documents."""
    heap: list[tuple[int, str, int, dict]] = []  # max-heap via negated priority; serial breaks ties
    docs_by_source: Counter = Counter()
    chars_by_source: Counter = Counter()
    result = ReadResult()
    nbytes = serial = 0
    for docs in _batches(task, result):
        for doc in docs:
            src = doc.get("source") or "unknown"
            text = doc.get("text") or ""
            docs_by_source[src] += 1
            chars_by_source[src] += len(text)
            nbytes += len(text)
            if n <= 0:
                continue
            p = priority(seed, src, str(doc.get("id")))
            serial += 1
            item = (-p, str(doc.get("id")), serial, doc)
            if len(heap) < n:
                heapq.heappush(heap, item)
            elif -p > heap[0][0]:
                heapq.heapreplace(heap, item)
    quarantined: Counter = Counter(q["source"] for q in result.quarantine)
    return {"sample": [(-p, i, s, d) for p, i, s, d in heap], "docs": dict(docs_by_source),
            "chars": dict(chars_by_source), "quarantined": dict(quarantined),
            "quarantine_examples": result.quarantine[:5], "bytes": nbytes}


class SampleMerger:
    """Merges task results into the global bottom-n sample and totals."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.heap: list[tuple[int, str, int, dict]] = []
        self.docs: Counter = Counter()
        self.chars: Counter = Counter()
        self.quarantined: Counter = Counter()
        self.quarantine_examples: list[dict] = []
        self.serial = 0

    def add(self, res: dict) -> None:
        self.docs.update(res["docs"])
        self.chars.update(res["chars"])
        self.quarantined.update(res["quarantined"])
        if len(self.quarantine_examples) < 10:
            self.quarantine_examples += res["quarantine_examples"][: 10 - len(self.quarantine_examples)]
        for p, i, s, d in res["sample"]:
            self.serial += 1
            item = (-p, i, self.serial, d)
            if len(self.heap) < self.n:
                heapq.heappush(self.heap, item)
            elif -p > self.heap[0][0]:
                heapq.heapreplace(self.heap, item)

    def sample(self) -> list[dict]:
        """The sample in a canonical order (by priority), independent of how it was read."""
        return [d for _, _, _, d in sorted(((-p, i, s, d) for p, i, s, d in self.heap), key=lambda t: (t[0], t[1]))]
