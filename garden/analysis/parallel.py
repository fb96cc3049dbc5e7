"""Run a function over argument tuples on a spawn process pool (in-process for one worker), with progress.

One pool serves every phase of an analysis (`worker_pool`), so worker start-up is paid once.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator, Union

from garden.progress import Progress

Workers = Union[int, ProcessPoolExecutor]


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Workers]:
    """A process pool for `workers` > 1, else the number 1 (run in-process)."""
    if workers <= 1:
        yield 1
        return
    # spawn, not fork: pyarrow's and tokenizers' thread pools do not survive a fork.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        yield pool


def parallel(fn: Callable, args_list: list[tuple], workers: Workers, progress: Progress,
             label: str, weight: Callable[[Any, Any], tuple[int, int]]) -> Iterable[Any]:
    """Yield fn(*args) results as they complete (in completion order, not argument order)."""
    progress.start(label, len(args_list))
    try:
        if isinstance(workers, int) and workers > 1 and len(args_list) > 1:
            with worker_pool(workers) as pool:
                yield from parallel(fn, args_list, pool, Progress(enabled=False), label, weight)
            return
        if isinstance(workers, int):
            for args in args_list:
                res = fn(*args)
                progress.advance(*weight(args, res))
                progress.task_done()
                yield res
            return
        futures = {workers.submit(fn, *args): args for args in args_list}
        for fut in as_completed(futures):
            res = fut.result()
            progress.advance(*weight(futures[fut], res))
            progress.task_done()
            yield res
    finally:
        progress.finish()
