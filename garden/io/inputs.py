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
from garden.io.input_files import input_files, list_input, report_loops
from garden.io.lines import DEFAULT_MAX_RECORD_BYTES, LongLine, bounded_lines, readable_lines, skip_line

CHUNK = 8 * 1024 * 1024
SCAN_BLOCK = 1 << 20  # decompressed bytes per read when counting lines of a compressed file


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One `inputs:` entry of a recipe (garden.recipe reads it from YAML; planning reads it here)."""

    path: str
    source: str
    text_field: str = "text"
    id_field: str = "id"

    def files(self) -> list[str]:
        """Sorted, one name per file; raises InputFileError for FIFOs, devices, unreadable files,
        link loops and non-UTF-8 names (garden.io.input_files)."""
        listing = list_input(self.path)
        report_loops(listing)
        return listing.files

    def base_dir(self) -> str:
        """The non-wildcard prefix of the path; generated ids are relative to it."""
        parts = self.path.split("/")
        fixed = []
        for part in parts:
            if any(ch in part for ch in "*?["):
                break
            fixed.append(part)
        base = "/".join(fixed) if len(fixed) < len(parts) else fs.dirname(self.path)
        return base or "."


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


ZSTD_SLICE = 2048  # compressed bytes per decompress call; see _ZstdRaw


class _ZstdRaw(io.RawIOBase):
    """Multi-frame zstd decompression, bounded in memory, that raises EOFError on a truncated stream.

    zstandard's own stream reader returns a truncated frame's prefix silently; a pipeline
    must say that the file ended early, and where. Its decompressobj has no output limit, and
    zstd expands up to ~32,768:1 (a few bytes per 128 KB block of one repeated byte), so input
    goes in ZSTD_SLICE pieces: one call yields at most ~64 MB, even from a zstd bomb.
    """

    def __init__(self, path: str) -> None:
        import zstandard

        self._zstd = zstandard
        self._fh = fs.open(path, "rb")
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._block = memoryview(b"")
        self._at = 0
        self._carry = b""  # input after the end of a frame: the next frame's start
        self._pending = memoryview(b"")
        self._in_frame = False
        self._error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def _next_input(self) -> bytes | memoryview:
        if self._carry:
            chunk, self._carry = self._carry, b""
            return chunk
        if self._at >= len(self._block):
            self._block, self._at = memoryview(self._fh.read(1 << 20)), 0
        chunk = self._block[self._at:self._at + ZSTD_SLICE]
        self._at += len(chunk)
        return chunk

    def _fill(self) -> bool:
        """Decompress until some output is pending; False at the clean end of the stream."""
        while not self._pending:
            chunk = self._next_input()
            if not len(chunk):
                if self._in_frame:
                    raise EOFError(f"truncated zstd stream at compressed offset {self._fh.tell()}")
                return False
            self._in_frame = True
            self._pending = memoryview(self._dobj.decompress(chunk))
            if self._dobj.eof:
                self._carry = self._dobj.unused_data
                self._dobj = self._zstd.ZstdDecompressor().decompressobj()
                self._in_frame = False
        return True

    def readinto(self, buffer) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            try:
                if not self._pending and not self._fill():
                    break
            except Exception as exc:  # hand out what came before the error first
                if not filled:
                    raise
                self._error = exc
                break
            n = min(len(view) - filled, len(self._pending))
            view[filled:filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled

    def close(self) -> None:
        self._fh.close()
        super().close()


def _plain_ranges(path: str, shard_size: int) -> list[tuple[int, int, int]]:
    """(start, end, first_line) byte ranges aligned to line starts."""
    size = fs.size(path)
    starts = [0]
    with readable_lines(fs.open(path, "rb")) as fh:
        target = shard_size
        while target < size:
            fh.seek(target)
            skip_line(fh.readline)  # move to the start of the next line, in bounded reads
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
            if i + 1 == len(starts):
                break  # the last range's lines begin no other range: not counted
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
    """(first_line, end_line, first_line, bytes) line ranges covering ~shard_size decompressed bytes.

    A range ends with the first line that brings it to shard_size bytes. Newlines are counted
    in blocks, never by holding a line: one line of many GB costs one block of memory."""
    ranges = []
    line = start_line = 1
    start = 0       # decompressed offset of the current range's first line
    pos = 0         # decompressed offset of the current block
    last_end = 0    # offset just past the last newline seen
    complete = False
    try:
        with open_decompressed(path) as fh:
            while True:
                block = fh.read(SCAN_BLOCK)
                if not block:
                    break
                i = 0
                while True:
                    # a newline at index >= boundary ends a line that brings the range to shard_size
                    boundary = max(i, start + shard_size - 1 - pos)
                    nl = block.find(b"\n", boundary) if boundary < len(block) else -1
                    if nl < 0:
                        line += block.count(b"\n", i)
                        break
                    line += block.count(b"\n", i, nl) + 1
                    end = pos + nl + 1
                    ranges.append((start_line, line, start_line, end - start))
                    start_line, start, i = line, end, nl + 1
                last = block.rfind(b"\n")
                if last >= 0:
                    last_end = pos + last + 1
                pos += len(block)
        complete = True
    except Exception:  # truncated or corrupt stream: planned up to here; the reader reports the error
        pos = last_end
    if complete and pos > last_end:  # a last line without a newline
        line += 1
        if pos - start >= shard_size:
            ranges.append((start_line, line, start_line, pos - start))
            start_line, start = line, pos
    ranges.append((start_line, -1, start_line, pos - start))
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

    for spec, files in zip(inputs, input_files(inputs)):
        base = spec.base_dir()
        for path in files:
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


def iter_lines(shard: InputShard, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
               ) -> Iterator[tuple[int, int, bytes | LongLine]]:
    """Yield (line_number, byte_offset, raw_line) of a jsonl shard; may raise at a truncation.

    A line longer than max_record_bytes comes as a LongLine (size and first bytes), never whole."""
    if shard.format == "jsonl":
        with readable_lines(fs.open(shard.path, "rb")) as fh:
            fh.seek(shard.start)
            pos, line = shard.start, shard.first_line
            lines = bounded_lines(fh, max_record_bytes)
            while pos < shard.end:
                raw = next(lines, None)
                if raw is None:
                    break
                yield line, pos, raw
                pos += raw.size if isinstance(raw, LongLine) else len(raw)
                line += 1
        return
    with open_decompressed(shard.path) as fh:
        pos, line = 0, 1
        for raw in bounded_lines(fh, max_record_bytes):
            if line >= shard.start and (shard.end < 0 or line < shard.end):
                yield line, pos, raw
            elif shard.end >= 0 and line >= shard.end:
                return
            pos += raw.size if isinstance(raw, LongLine) else len(raw)
            line += 1
