"""Run a function over argument tuples on a spawn process pool (in-process for one worker), with progress."""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable

from garden.progress import Progress


def parallel(fn: Callable, args_list: list[tuple], workers: int, progress: Progress,
              label: str, weight: Callable[[Any, Any], tuple[int, int]]) -> Iterable[Any]:
    """Yield fn(*args) results as they complete; in-process for one worker."""
    progress.start(label, len(args_list))
    try:
        if workers <= 1 or len(args_list) <= 1:
            for args in args_list:
                res = fn(*args)
                progress.advance(*weight(args, res))
                progress.task_done()
                yield res
        else:
            # spawn, not fork: pyarrow's and tokenizers' thread pools do not survive a fork.
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(fn, *args): args for args in args_list}
                for fut in as_completed(futures):
                    res = fut.result()
                    progress.advance(*weight(futures[fut], res))
                    progress.task_done()
                    yield res
    finally:
        progress.finish()
