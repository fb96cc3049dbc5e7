"""The one process pool of Garden: the local executor's stages and `garden analyze` both run on it.

Workers are never forked from the caller: pyarrow's and tokenizers' thread pools, once running,
do not survive a fork. They are forked from a fork server instead: a fresh interpreter, started
once per driver, that has imported the task modules (`preload`) and run nothing. So the ~0.4 s
of CPU that importing pyarrow and numpy costs is paid once, not once per worker, and a worker
exits without tearing an interpreter down. `start()` launches the workers at once, so the
caller plans while they come up. One worker means no pool at all: tasks run in the calling
process, with nothing pickled.

This module depends on nothing else in Garden, so that both the executor and the analysis
commands can use it without importing each other.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Sequence


class TaskFailed(RuntimeError):
    """A task raised; `args` are the arguments it was called with, `__cause__` the exception."""

    def __init__(self, args: tuple, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.task_args = args
        self.exc = exc


def context(preload: Sequence[str] = ()) -> Any:
    """The multiprocessing context of Garden's workers (and of the queues they share): the
    fork server, which imports `preload` once before its first fork (only the first call's
    `preload` counts: there is one server per process)."""
    ctx = mp.get_context("forkserver")
    if preload:
        ctx.set_forkserver_preload(list(preload))
    return ctx


def _worker_init(driver_alive: Any, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """In each worker: exit as soon as the driver is gone (even killed with -9), then the caller's
    initializer. A forked worker's parent is the fork server, which outlives a killed driver as
    long as a worker runs, so the worker watches the driver itself: the read end of a pipe whose
    only write end the driver holds reads EOF when the driver dies."""
    def watch() -> None:
        try:
            driver_alive.recv()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="garden-driver-watch", daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


def _ready() -> int:
    """A no-op whose only use is to make a worker start now."""
    return os.getpid()


class ProcessPool:
    """`workers` spawned processes (or the calling process when workers <= 1) that run
    functions on argument tuples and hand back results as they complete."""

    def __init__(self, workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: Sequence[Any] = (), preload: Sequence[str] = ()) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._preload = list(preload)
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._alive: tuple[Any, Any] | None = None

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def start(self) -> "ProcessPool":
        """Launch every worker now (not at the first task), without waiting for them."""
        if not self.in_process and self._pool is None:
            ctx = context(self._preload)
            self._alive = ctx.Pipe(duplex=False)  # (read end for the workers, write end kept here)
            pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                       initargs=(self._alive[0], self._initializer, self._initargs))
            self._pool = pool

            def launch() -> None:  # the pool starts one worker per submitted task; the first one
                for _ in range(self.workers):  # waits for the fork server's imports: not on the caller's time
                    pool.submit(_ready)

            self._starting = threading.Thread(target=launch, name="garden-pool-start", daemon=True)
            self._starting.start()
        return self

    def _started(self) -> ProcessPoolExecutor:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        assert self._pool is not None
        return self._pool

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
        pool = self.start()._started()
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
            self._started().shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._alive is not None:
            for end in self._alive:
                end.close()
            self._alive = None

    def __enter__(self) -> "ProcessPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
