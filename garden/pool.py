"""The one process pool of Garden: the local executor's stages and `garden analyze` both run on it.

Workers are spawned, not forked: pyarrow's and tokenizers' thread pools do not survive a fork.
A spawned worker imports pyarrow, numpy and the task's module before its first task (about
half a second per worker on a busy machine), so `start()` launches them at once and the caller
does its own work (planning, listing inputs) while they come up. One worker means no pool at
all: tasks run in the calling process, with nothing pickled.

This module depends on nothing else in Garden, so that both the executor and the analysis
commands can use it without importing each other.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Sequence


class TaskFailed(RuntimeError):
    """A task raised; `args` are the arguments it was called with, `__cause__` the exception."""

    def __init__(self, args: tuple, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.task_args = args
        self.exc = exc


def _ready() -> int:
    """A no-op whose only use is to make a worker start now."""
    return os.getpid()


class ProcessPool:
    """`workers` spawned processes (or the calling process when workers <= 1) that run
    functions on argument tuples and hand back results as they complete."""

    def __init__(self, workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: Sequence[Any] = ()) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._pool: ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def start(self) -> "ProcessPool":
        """Launch every worker now (not at the first task), without waiting for them."""
        if not self.in_process and self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=self._initializer, initargs=self._initargs)
            for _ in range(self.workers):  # a spawn pool starts one worker per submitted task
                self._pool.submit(_ready)
        return self

    def run(self, fn: Callable[..., Any], args_list: Iterable[tuple]) -> Iterator[tuple[tuple, Any]]:
        """(args, fn(*args)) for every args, in completion order; the first failure raises
        TaskFailed and cancels what has not started."""
        args_list = list(args_list)
        if self.in_process:
            for args in args_list:
                try:
                    res = fn(*args)
                except Exception as exc:
                    raise TaskFailed(args, exc) from exc
                yield args, res
            return
        pool = self.start()._pool
        assert pool is not None
        pending: dict[Future, tuple] = {pool.submit(fn, *args): args for args in args_list}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    args = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        raise TaskFailed(args, exc) from exc
                    yield args, fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        """Wait for the workers to exit (tasks not started are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "ProcessPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
