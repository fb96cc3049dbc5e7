"""File access for local paths and fsspec URLs (s3://, gs://, az://, hdfs://, file://, ...).

Local paths use the OS directly: fastest, and temp file + rename makes every write atomic.
A URL goes through fsspec. Object stores have no rename, but a whole-object PUT becomes
visible at once; so a write to a URL is staged in a local temp file and uploaded in one call
when it is complete. Readers never see part of a file, and a task killed before the upload
leaves nothing behind. Completion markers are written last, as locally, so resume works the
same way on both.

Credentials and endpoints come from the usual places of each backend (AWS_* variables and
~/.aws for s3fs, GOOGLE_APPLICATION_CREDENTIALS for gcsfs, ...) or fsspec's own configuration
(FSSPEC_S3_ENDPOINT_URL and the like); Garden passes none of its own.
"""
from __future__ import annotations

import builtins
import contextlib
import glob as _glob
import os
import posixpath
import re
import shutil
import tempfile
from typing import IO, Any, Iterator


def is_url(path: str) -> bool:
    return "://" in path


def _fs(path: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise RuntimeError(f"'{path}' is a URL: install fsspec and its backend (s3fs, gcsfs, ...)") from None
    try:
        return fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        raise RuntimeError(f"cannot open '{path}': {exc}") from None


def _fresh(path: str) -> tuple[Any, str]:
    """The filesystem with its listing cache dropped: other processes write here too."""
    fs, stripped = _fs(path)
    fs.invalidate_cache()
    return fs, stripped


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_url(base) else os.path.join(base, *parts)


def dirname(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) if is_url(path) else os.path.dirname(path)


def abspath(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)


def _ask(path: str, local: Any, method: str) -> Any:
    """`local(path)` for a local path, else the same question to fsspec, uncached."""
    if not is_url(path):
        return local(path)
    fs, p = _fresh(path)
    return getattr(fs, method)(p)


def exists(path: str) -> bool:
    return _ask(path, os.path.exists, "exists")


def isdir(path: str) -> bool:
    return _ask(path, os.path.isdir, "isdir")


def isfile(path: str) -> bool:
    return _ask(path, os.path.isfile, "isfile")


def size(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    fs, p = _fs(path)
    return int(fs.size(p))


def glob(pattern: str) -> list[str]:
    """Sorted matches; `**` matches across directories.

    On an object store a wildcard in a directory level (`scan/shard-*/p0001.parquet`) would
    cost fsspec one LIST per directory; one flat listing under the fixed prefix (1,000 keys a
    request) filtered by the pattern costs far fewer."""
    if not is_url(pattern):
        return local_glob(pattern)[0]
    fs, p = _fresh(pattern)
    head = p.rpartition("/")[0]
    if not _glob.has_magic(head):
        return sorted(fs.unstrip_protocol(m) for m in fs.glob(p))
    from fsspec.utils import glob_translate

    root = p[:min(p.index(c) for c in "*?[" if c in p)].rpartition("/")[0]
    wanted = re.compile(glob_translate(p))
    return sorted(fs.unstrip_protocol(m) for m in fs.find(root, withdirs=True) if wanted.match(m.rstrip("/")))


def local_glob(pattern: str) -> tuple[list[str], list[str]]:
    """(sorted matches, directories not entered because they would close a loop) of a local pattern.

    Python's glob follows `**` through symlinked directories until the OS refuses the path
    (ELOOP): a link to a parent lists each file dozens of times, two such links exponentially
    many. Here a directory that is its own ancestor is reported instead of entered; otherwise
    matches are glob's (hidden names only for a pattern part that starts with '.'), each once."""
    if not any(part == "**" for part in pattern.split(os.sep)):
        return sorted(_glob.glob(pattern)), []
    parts = pattern.split(os.sep)
    out: list[str] = []
    loops: list[str] = []

    def ident(path: str) -> tuple[int, int]:
        st = os.stat(path)
        return st.st_dev, st.st_ino

    def names(base: str, hidden: bool) -> list[str]:
        try:
            found = sorted(os.listdir(base or os.curdir))
        except OSError:
            return []
        return found if hidden else [n for n in found if not n.startswith(".")]

    def walk(base: str, k: int, ancestors: frozenset, entered: bool = True) -> None:
        if k == len(parts):
            out.append(base)
            return
        part = parts[k]
        if part == "**":
            if k + 1 < len(parts):
                walk(base, k + 1, ancestors)  # `**` matching no directory
            elif entered and base:
                out.append(os.path.join(base, ""))
            for name in names(base, False):
                path = os.path.join(base, name) if base else name
                if k + 1 == len(parts):
                    out.append(path)
                if not os.path.isdir(path):
                    continue
                try:
                    key = ident(path)
                except OSError:
                    continue
                if key in ancestors:
                    loops.append(path)
                    continue
                walk(path, k, ancestors | {key}, entered=False)
        elif _glob.has_magic(part):
            for name in _fnmatch_filter(names(base, part.startswith(".")), part):
                path = os.path.join(base, name) if base else name
                if k + 1 == len(parts) or os.path.isdir(path):
                    walk(path, k + 1, ancestors)
        else:
            path = os.path.join(base, part) if base else part
            if (k + 1 == len(parts) and os.path.lexists(path)) or os.path.isdir(path):
                walk(path, k + 1, ancestors)

    start = 0
    base = ""
    if pattern.startswith(os.sep):
        base, start = os.sep, 1
    for part in parts[start:]:
        if part == "**" or _glob.has_magic(part):
            break
        base = os.path.join(base, part) if base else part
        start += 1
    root_key = frozenset()
    if base and os.path.isdir(base):
        root_key = frozenset({ident(base)})
    elif base and start < len(parts):
        return [], []
    walk(base, start, root_key)
    return sorted(set(out)), sorted(set(loops))


def _fnmatch_filter(names: list[str], part: str) -> list[str]:
    import fnmatch

    return fnmatch.filter(names, part)


def listdir(path: str) -> list[str]:
    """Names (not paths) of the entries of a directory; [] when it does not exist."""
    if not is_url(path):
        return sorted(os.listdir(path)) if os.path.isdir(path) else []
    fs, p = _fresh(path)
    try:
        return sorted(posixpath.basename(e.rstrip("/")) for e in fs.ls(p, detail=False))
    except FileNotFoundError:
        return []


def makedirs(path: str) -> None:
    """Create a local directory; object stores have none to create."""
    if not is_url(path):
        os.makedirs(path or ".", exist_ok=True)
        return
    fs, p = _fs(path)
    if "local" in fs.protocol or "file" in fs.protocol:
        fs.makedirs(p, exist_ok=True)


def remove(path: str) -> None:
    """Delete a file if it exists."""
    if not is_url(path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return
    fs, p = _fresh(path)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(p)


def rmtree(path: str) -> None:
    """Delete a directory and everything in it, if it exists."""
    if not is_url(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    fs, p = _fresh(path)
    if fs.exists(p):
        fs.rm(p, recursive=True)


def open(path: str, mode: str = "rb", **kwargs: Any) -> IO:  # noqa: A001 - mirrors builtins.open
    """Open for reading. Writes go through `StagedFile` / `atomic_write_bytes`, which are atomic."""
    if not is_url(path):
        return builtins.open(path, mode, **kwargs)
    fs, p = _fs(path)
    return fs.open(p, mode, **kwargs)


def read_bytes(path: str) -> bytes:
    """A whole file; for a URL one GET (no size request first)."""
    if not is_url(path):
        with builtins.open(path, "rb") as fh:
            return fh.read()
    fs, p = _fs(path)
    return fs.cat_file(p, start=0)  # a range from 0: s3fs asks for the size first without one


def prefetched(paths: list[str], window: int = 8) -> Iterator[tuple[str, bytes]]:
    """(path, content) in order, with up to `window` downloads in flight: many small files on an
    object store cost their latency once per window, not once per file. Memory: `window` files."""
    if not paths or not is_url(paths[0]):  # local reads wait on nothing: no threads
        yield from ((p, read_bytes(p)) for p in paths)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=window) as pool:
        pending = [pool.submit(read_bytes, p) for p in paths[:window]]
        for k, path in enumerate(paths):
            data = pending[k].result()
            pending[k] = None  # type: ignore[call-overload]  # release the bytes once yielded
            if k + window < len(paths):
                pending.append(pool.submit(read_bytes, paths[k + window]))
            yield path, data


@contextlib.contextmanager
def local_copies(paths: list[str], window: int = 8) -> Iterator[list[str]]:
    """Local paths with the files' content, for libraries that need a path (memmap, tokenizers);
    files at URLs are downloaded `window` at a time into a temp dir removed afterwards."""
    if not paths or not is_url(paths[0]):
        yield list(paths)
        return
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="garden-", dir=staging_dir()) as tmp:
        local = [os.path.join(tmp, f"{k:06d}-{posixpath.basename(p)}") for k, p in enumerate(paths)]

        def fetch(k: int) -> None:
            fs, p = _fs(paths[k])
            fs.get_file(p, local[k])

        with ThreadPoolExecutor(max_workers=window) as pool:
            list(pool.map(fetch, range(len(paths))))
        yield local


def arrow_many(paths: list[str]) -> tuple[list[str], Any]:
    """(paths, filesystem) for a pyarrow dataset of files on one filesystem: the paths as they
    are with None locally, fsspec's filesystem and the paths without protocol for URLs."""
    if not paths or not is_url(paths[0]):
        return list(paths), None
    fs, _ = _fs(paths[0])
    return [_fs(p)[1] for p in paths], fs


def staging_dir() -> str:
    """Where writes to URLs are staged before upload (GARDEN_TMPDIR, else the system temp dir)."""
    return os.environ.get("GARDEN_TMPDIR") or tempfile.gettempdir()


# The one temp-file rule: every name below derives from TEMP_MARK.
TEMP_MARK = ".garden-tmp-"
TEMP_RE = re.compile(rf"^\..+{re.escape(TEMP_MARK)}\d+$")


def temp_path(path: str) -> str:
    """`dir/.name.garden-tmp-<pid>`: hidden, and a name no user file has by accident, so that
    cleaning up after a killed run can never remove a file Garden did not write."""
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}{TEMP_MARK}{os.getpid()}")


def is_temp_name(name: str) -> bool:
    return bool(TEMP_RE.match(name))


def temp_glob(path: str) -> str:
    """A glob (local paths) for the temp files of `path` written by any process: a killed attempt's.
    Confirm each hit with is_temp_name before removing it."""
    head, name = os.path.split(path)
    return os.path.join(_glob.escape(head), f".{_glob.escape(name)}{TEMP_MARK}*")


def temp_glob_under(folder: str) -> str:
    """A recursive glob (`glob(..., recursive=True)`, local paths) for every temp file under `folder`."""
    return os.path.join(_glob.escape(folder), "**", f".*{TEMP_MARK}*")


class StagedFile:
    """A local file that becomes `path` on `commit()`, atomically, or nothing on `abort()`.

    Locally it is `temp_path(path)` renamed into place; for a URL a file in `staging_dir()`
    uploaded in one call. Use `.local` with any library that writes to a path.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if is_url(path):
            fd, self.local = tempfile.mkstemp(prefix="garden-", suffix="-" + posixpath.basename(path),
                                              dir=staging_dir())
            os.close(fd)
        else:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.local = temp_path(path)

    def commit(self) -> None:
        if not is_url(self.path):
            os.replace(self.local, self.path)
            return
        fs, p = _fs(self.path)
        try:
            try:
                fs.put_file(self.local, p)
            except FileNotFoundError:  # file:// and other filesystems with real directories
                fs.makedirs(fs._parent(p), exist_ok=True)
                fs.put_file(self.local, p)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.local)

    def abort(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.local)

    def __enter__(self) -> "StagedFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def atomic_write_bytes(path: str, data: bytes) -> None:
    with StagedFile(path) as staged, builtins.open(staged.local, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def local_copy(path: str) -> Iterator[str]:
    """A local path with the file's content, for libraries that need one (memmap, tokenizers)."""
    with local_copies([path]) as paths:
        yield paths[0]


def parquet_file(path: str) -> Any:
    """pyarrow's ParquetFile for a local path or a URL (read with range requests, not downloaded).

    A URL is opened here rather than handed to pyarrow with the filesystem, which would ask
    the store twice for the file's size (one request per file saved)."""
    import pyarrow.parquet as pq

    if not is_url(path):
        return pq.ParquetFile(path)
    fs, p = _fs(path)
    return pq.ParquetFile(fs.open(p, "rb"))


def read_ranges(path: str, ranges: list[tuple[int, int]], gap: int = 1 << 16) -> list[bytes]:
    """The bytes of each [start, end) range of one file. For a URL, ranges closer than `gap`
    are fetched as one request and the requests run concurrently (fsspec's cat_ranges)."""
    if not ranges:
        return []
    if not is_url(path):
        with builtins.open(path, "rb") as fh:
            out = []
            for start, end in ranges:
                fh.seek(start)
                out.append(fh.read(end - start))
            return out
    order = sorted(range(len(ranges)), key=lambda k: ranges[k])
    spans: list[list[int]] = []  # [start, end, first index into order, last index]
    for pos, k in enumerate(order):
        start, end = ranges[k]
        if spans and start - spans[-1][1] <= gap:
            spans[-1][1] = max(spans[-1][1], end)
            spans[-1][3] = pos
        else:
            spans.append([start, end, pos, pos])
    filesystem, p = _fs(path)
    blobs = filesystem.cat_ranges([p] * len(spans), [s[0] for s in spans], [s[1] for s in spans])
    out: list[bytes] = [b""] * len(ranges)
    for (span_start, _end, first, last), blob in zip(spans, blobs):
        for pos in range(first, last + 1):
            k = order[pos]
            start, end = ranges[k]
            out[k] = blob[start - span_start:end - span_start]
    return out
