"""Input planning: split every input file into shards so that all workers share big files.

Plain JSONL is cut into byte ranges aligned to line starts; compressed JSONL (which cannot be
seeked) into line ranges, each shard decompressing the stream and skipping to its lines;
parquet into groups of row groups. Shards depend only on the inputs and `shard_size`, never on
the worker count, which is what makes output byte-identical for 1 or N workers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import Iterator

from garden.io import fs
from garden.io.identity import InputIdentity
from garden.recipe import InputSpec

CHUNK = 8 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class InputShard:
    index: int
    path: str
    source: str
    rel: str            # path relative to the input's base dir, used in generated ids
    format: str         # jsonl | jsonl.gz | jsonl.zst | parquet | broken
    start: int          # byte offset (jsonl) / first line (compressed) / first row group (parquet)
    end: int            # exclusive; -1 = to the end
    first_line: int     # 1-based line number of the shard's first line (rows for parquet)
    size: int           # input bytes this shard covers (for progress and MB/s)
    text_field: str = "text"
    id_field: str = "id"
    error: str = ""     # for format == broken: why the file could not be planned
    identity: str = ""  # the file's sampled fingerprint at planning; checked before and after reading

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def file_format(path: str) -> str:
    for suffix, fmt in ((".jsonl.gz", "jsonl.gz"), (".json.gz", "jsonl.gz"), (".jsonl.zst", "jsonl.zst"),
                        (".json.zst", "jsonl.zst"), (".parquet", "parquet")):
        if path.endswith(suffix):
            return fmt
    return "jsonl"


def open_decompressed(path: str) -> io.BufferedIOBase:
    """A binary stream of the decompressed content of a .gz/.zst/plain file."""
    fmt = file_format(path)
    if fmt == "jsonl.gz":
        import gzip

        return gzip.GzipFile(fileobj=fs.open(path, "rb"), mode="rb") if fs.is_url(path) else gzip.open(path, "rb")
    if fmt == "jsonl.zst":
        return io.BufferedReader(_ZstdRaw(path), buffer_size=CHUNK)
    return fs.open(path, "rb")


class _ZstdRaw(io.RawIOBase):
    """Multi-frame zstd decompression that raises EOFError on a truncated stream.

    zstandard's own stream reader returns a truncated frame's prefix silently; a pipeline
    must say that the file ended early, and where.
    """

    def __init__(self, path: str) -> None:
        import zstandard

        self._zstd = zstandard
        self._fh = fs.open(path, "rb")
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._fh.read(1 << 20)
            if not chunk:
                if self._in_frame:
                    raise EOFError(f"truncated zstd stream at compressed offset {self._fh.tell()}")
                return 0
            while chunk:
                self._in_frame = True
                self._pending += self._dobj.decompress(chunk)
                if self._dobj.eof:
                    chunk = self._dobj.unused_data
                    self._dobj = self._zstd.ZstdDecompressor().decompressobj()
                    self._in_frame = False
                else:
                    chunk = b""
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _plain_ranges(path: str, shard_size: int) -> list[tuple[int, int, int]]:
    """(start, end, first_line) byte ranges aligned to line starts."""
    size = fs.size(path)
    starts = [0]
    with fs.open(path, "rb") as fh:
        target = shard_size
        while target < size:
            fh.seek(target)
            fh.readline()  # move to the start of the next line
            pos = fh.tell()
            if pos >= size:
                break
            if pos > starts[-1]:
                starts.append(pos)
            target = max(pos, target) + shard_size
        ranges = []
        line = 1
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else size
            ranges.append((start, end, line))
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                block = fh.read(min(CHUNK, remaining))
                if not block:
                    break
                line += block.count(b"\n")
                remaining -= len(block)
    return ranges


def _compressed_ranges(path: str, shard_size: int) -> list[tuple[int, int, int, int]]:
    """(first_line, end_line, first_line, bytes) line ranges covering ~shard_size decompressed bytes."""
    ranges = []
    line = 1
    start_line = 1
    acc = 0
    try:
        with open_decompressed(path) as fh:
            for raw in fh:
                acc += len(raw)
                line += 1
                if acc >= shard_size:
                    ranges.append((start_line, line, start_line, acc))
                    start_line, acc = line, 0
    except Exception:  # truncated or corrupt stream: planned up to here; the reader reports the error
        pass
    ranges.append((start_line, -1, start_line, acc))
    return ranges


def _relative(path: str, base: str) -> str:
    if fs.is_url(path):
        return path[len(base):].lstrip("/") if path.startswith(base) else path.split("://", 1)[1]
    return os.path.relpath(path, base)


def plan_inputs(inputs: list[InputSpec], shard_size: int, identities: dict[str, str] | None = None) -> list[InputShard]:
    """Shards of every input file; `identities` (path → sampled fingerprint) go on each shard."""
    shards: list[InputShard] = []
    identities = identities or {}

    def add(**kw) -> None:
        shards.append(InputShard(index=len(shards), **kw))

    for spec in inputs:
        base = spec.base_dir()
        for path in spec.files():
            rel = _relative(path, base)
            fmt = file_format(path)
            common = dict(path=path, source=spec.source, rel=rel, text_field=spec.text_field, id_field=spec.id_field,
                          identity=identities.get(path, ""))
            size = fs.size(path)
            if fmt == "jsonl":
                for start, end, first in _plain_ranges(path, shard_size):
                    add(format=fmt, start=start, end=end, first_line=first, size=end - start, **common)
            elif fmt in ("jsonl.gz", "jsonl.zst"):
                if size * 4 < shard_size:  # small: one shard, no counting pass
                    add(format=fmt, start=1, end=-1, first_line=1, size=size, **common)
                    continue
                ranges = _compressed_ranges(path, shard_size)
                total = sum(r[3] for r in ranges) or 1
                for start, end, first, nbytes in ranges:
                    add(format=fmt, start=start, end=end, first_line=first, size=max(1, size * nbytes // total), **common)
            else:
                try:
                    meta = fs.parquet_file(path).metadata
                except Exception as exc:  # corrupt parquet: reported as one quarantined record
                    add(format="broken", start=0, end=-1, first_line=0, size=size, error=f"{type(exc).__name__}: {exc}", **common)
                    continue
                group_start, acc, first_row, row = 0, 0, 1, 1
                for g in range(meta.num_row_groups):
                    acc += meta.row_group(g).total_byte_size
                    row += meta.row_group(g).num_rows
                    if acc >= shard_size or g == meta.num_row_groups - 1:
                        add(format=fmt, start=group_start, end=g + 1, first_line=first_row, size=acc, **common)
                        group_start, acc, first_row = g + 1, 0, row
                if meta.num_row_groups == 0:
                    add(format=fmt, start=0, end=0, first_line=1, size=0, **common)
    return shards


def plan_key(inputs: list[InputSpec], shard_size: int, identities: dict[str, InputIdentity]) -> str:
    """What the plan depends on: the input specs, the shard size and every file's identity."""
    h = hashlib.sha256()
    h.update(json.dumps([dataclasses.asdict(i) for i in inputs], sort_keys=True).encode())
    h.update(str(shard_size).encode())
    for path in sorted(identities):
        ident = identities[path]
        h.update(f"{path}|{ident.sampled}|{ident.full}".encode())
    return h.hexdigest()[:16]


def iter_lines(shard: InputShard) -> Iterator[tuple[int, int, bytes]]:
    """Yield (line_number, byte_offset, raw_line) of a jsonl shard; may raise at a truncation."""
    if shard.format == "jsonl":
        with fs.open(shard.path, "rb") as fh:
            fh.seek(shard.start)
            pos, line = shard.start, shard.first_line
            while pos < shard.end:
                raw = fh.readline()
                if not raw:
                    break
                yield line, pos, raw
                pos += len(raw)
                line += 1
        return
    with open_decompressed(shard.path) as fh:
        pos, line = 0, 1
        for raw in fh:
            if line >= shard.start and (shard.end < 0 or line < shard.end):
                yield line, pos, raw
            elif shard.end >= 0 and line >= shard.end:
                return
            pos += len(raw)
            line += 1
