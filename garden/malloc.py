"""Keep freed memory in the process instead of handing it back to the kernel at once.

glibc's malloc serves a block over its mmap threshold (128 KB, rising to at most 32 MB) with a
fresh mapping and unmaps it on free, and trims the heap's free top down to 128 KB. A shard's
reading allocates and frees arrays of a block's size (8 MB of bytes, numpy masks, Arrow
buffers) over and over, so every block paid again for the kernel to zero its pages: a fifth of
the CPU of an empty pipeline went to `clear_page` (measured with perf on bench_io_scaling's
112 MB input; 1.48 s → 1.10 s with this). Raising both thresholds keeps that memory for the next
block; what stays held is at most the process's peak, which the block size bounds. Arrow's own
allocator (mimalloc, on Linux) hands freed pages back after 10 ms just the same, so Arrow is
switched to glibc's malloc too (1.52 s → 1.18 s more): `set_memory_pool` here covers what Python
calls allocate, and the CLI sets ARROW_DEFAULT_MEMORY_POOL=system before pyarrow is imported
for what Arrow's C++ allocates by itself (the parquet writer's buffers), in its workers too.

Garden's own processes call it: the CLI and the pool's workers. A program that calls
`garden.api` itself decides for its own process (this is glibc-wide).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (on 64-bit): blocks up to 32 MB come from the heap
TRIM_THRESHOLD = 512 << 20  # free memory the heap keeps at its top before returning it


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds and give Arrow glibc's malloc; False (and nothing
    changed) where there is no glibc (macOS, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return False
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
    return True
