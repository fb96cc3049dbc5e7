"""Lines of a byte stream without ever holding more than a bounded part of one line.

A record longer than the limit (think of a gzip bomb: a few MB holding one line of many GB) is
skipped to its end in SKIP_CHUNK reads and comes out as a `LongLine` with its size and first
bytes, so the reader can quarantine it and go on. Peak memory per stream is about the limit
plus one buffer, whatever the input holds.
"""
from __future__ import annotations

import dataclasses
import io
from typing import IO, Iterator

DEFAULT_MAX_RECORD_BYTES = 64 << 20  # recipe key `max_record_bytes`
SKIP_CHUNK = 1 << 20
HEAD = 200  # bytes of a long line kept for its quarantine snippet


@dataclasses.dataclass(frozen=True)
class LongLine:
    """A line longer than the limit, already skipped: its bytes were never held whole."""

    size: int   # bytes consumed, line terminator included
    head: bytes
    terminated: bool = True  # False when the line ends at end of file without a newline

    @property
    def record_bytes(self) -> int:
        """The record's length without its newline."""
        return self.size - 1 if self.terminated else self.size


def readable_lines(fh: IO[bytes]) -> IO[bytes]:
    """A stream whose readline(limit) is bounded. fsspec's files read a whole line whatever the
    limit (readline takes none), so they are wrapped in a BufferedReader."""
    if isinstance(fh, (io.BufferedIOBase, io.RawIOBase)):
        return fh
    return io.BufferedReader(fh, buffer_size=SKIP_CHUNK)  # type: ignore[arg-type]


def skip_line(readline, consumed: int = 0) -> tuple[int, bool]:
    """Read to the end of the current line in bounded pieces: (bytes consumed, ended with a newline)."""
    while True:
        part = readline(SKIP_CHUNK)
        consumed += len(part)
        if not part:
            return consumed, False
        if part.endswith(b"\n"):
            return consumed, True


def bounded_lines(fh: IO[bytes], limit: int) -> Iterator[bytes | LongLine]:
    """Each line of `fh` as bytes (terminator included), or a LongLine when it is longer than
    `limit` bytes without its terminator."""
    readline = fh.readline
    while True:
        raw = readline(limit + 1)
        if not raw:
            return
        if len(raw) <= limit or raw.endswith(b"\n"):
            yield raw
            continue
        head = raw[:HEAD]
        del raw
        size, ended = skip_line(readline, limit + 1)
        yield LongLine(size=size, head=head, terminated=ended)
