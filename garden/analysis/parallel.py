"""`garden analyze`'s phases on Garden's process pool (garden.pool), with progress.

One pool serves every phase of an analysis (`worker_pool`), so worker start-up is paid once.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Union

from garden.pool import ProcessPool, TaskFailed
from garden.progress import Progress

Workers = Union[int, ProcessPool]


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Workers]:
    """A started process pool for `workers` > 1, else the number 1 (run in-process)."""
    if workers <= 1:
        yield 1
        return
    with ProcessPool(workers).start() as pool:
        yield pool


def parallel(fn: Callable, args_list: list[tuple], workers: Workers, progress: Progress,
             label: str, weight: Callable[[Any, Any], tuple[int, int]]) -> Iterable[Any]:
    """Yield fn(*args) results as they complete (in completion order, not argument order).

    A number of workers > 1 starts a pool for this call alone; one task runs in-process."""
    progress.start(label, len(args_list))
    try:
        if isinstance(workers, int) and workers > 1 and len(args_list) > 1:
            with worker_pool(workers) as pool:
                yield from parallel(fn, args_list, pool, Progress(enabled=False), label, weight)
            return
        pool = workers if isinstance(workers, ProcessPool) else ProcessPool(1)
        try:
            for args, res in pool.run(fn, args_list):
                progress.advance(*weight(args, res))
                progress.task_done()
                yield res
        except TaskFailed as failed:
            raise failed.exc from None  # the task's own error, as a direct call would raise it
    finally:
        progress.finish()
