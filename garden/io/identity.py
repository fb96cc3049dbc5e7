"""What an input file is: a fingerprint of its content, so that resume notices a changed input.

Size and mtime alone miss a file replaced by other content of the same size with the old
mtime (`rsync -t`, `cp -p`, tar). The default fingerprint adds a hash of sampled bytes: the
first and last MiB and 16 blocks of 64 KiB spread evenly between them, about 3 MiB a file
however big it is. It misses only an edit that keeps size and mtime and touches none of the
sampled bytes. `--verify-inputs` adds a hash of every byte (SHA-256: hardware-accelerated on
current CPUs, about 3× blake2b's speed here), which misses nothing and costs one more read
of all inputs per run. On an object store the fingerprint is the
size and the ETag, which the store derives from the content.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os

from garden.io import fs

EDGE = 1 << 20          # bytes hashed at each end of the file
BLOCK = 64 << 10        # bytes of each sampled block in between
BLOCKS = 16


class InputChangedError(RuntimeError):
    """An input file changed after the run planned it; its shards would mix two versions."""


@dataclasses.dataclass(frozen=True)
class InputIdentity:
    sampled: str        # cheap: size, mtime, sampled bytes (or the store's ETag)
    full: str = ""      # every byte; only with --verify-inputs


def _sample_ranges(size: int) -> list[tuple[int, int]]:
    if size <= 2 * EDGE + BLOCKS * BLOCK:
        return [(0, size)]
    ranges = [(0, EDGE)]
    span = size - 2 * EDGE - BLOCK
    ranges += [(EDGE + span * (k + 1) // (BLOCKS + 1), EDGE + span * (k + 1) // (BLOCKS + 1) + BLOCK)
               for k in range(BLOCKS)]
    ranges.append((size - EDGE, size))
    return ranges


def _store_tag(path: str) -> tuple[int, str]:
    fsys, p = fs._fresh(path)
    info = fsys.info(p)
    tag = info.get("ETag") or info.get("etag") or info.get("md5Hash") or info.get("crc32c") or ""
    return int(info.get("size") or 0), str(tag).strip('"')


def sampled_fingerprint(path: str) -> str:
    """Size, mtime and a hash of sampled bytes (locally), or size and ETag (object stores)."""
    if fs.is_url(path):
        size, tag = _store_tag(path)
        if tag:
            return f"etag:{size}:{tag}"
        mtime = ""
    else:
        st = os.stat(path)
        size, mtime = st.st_size, str(st.st_mtime_ns)
    h = hashlib.blake2b(digest_size=16)
    for block in fs.read_ranges(path, _sample_ranges(size)):
        h.update(block)
    return f"sampled:{size}:{mtime}:{h.hexdigest()}"


def content_hash(path: str, chunk: int = 8 << 20) -> str:
    """A hash of every byte of the file."""
    h = hashlib.sha256()
    n = 0
    with fs.open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
            n += len(block)
    return f"sha256:{n}:{h.hexdigest()}"


def identify(path: str, verify: bool = False) -> InputIdentity:
    return InputIdentity(sampled_fingerprint(path), content_hash(path) if verify else "")


def check_unchanged(path: str, sampled: str) -> None:
    """Raise InputChangedError if `path` no longer has the fingerprint the plan recorded."""
    if not sampled:
        return  # a plan of an older Garden: nothing recorded to compare with
    try:
        now = sampled_fingerprint(path)
    except FileNotFoundError:
        raise InputChangedError(f"input {path} disappeared while the run was reading it") from None
    if now != sampled:
        raise InputChangedError(f"input {path} changed while the run was reading it "
                                f"(planned as {sampled.split(':', 2)[1]} bytes, now {now.split(':', 2)[1]})")
