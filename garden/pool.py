"""The one process pool of Garden: the local executor's stages and `garden analyze` both run on it.

How workers start decides what a small run costs (a fresh interpreter importing pyarrow and
numpy is ~0.4 s of CPU) and whether a worker can deadlock (a fork copies a lock that another
thread of the parent held, held forever). So:

- fork, when the caller runs no Python thread but the main one (the CLI, a script): a worker
  costs a few ms and starts with everything imported. The only other threads then are the idle
  pools of numpy's OpenBLAS and of Arrow, which re-initialise themselves in a forked child
  (pthread_atfork), as every multiprocessing user on Linux relies on. The executor makes its pool
  before it starts any thread of its own (the run lock's lease, the progress drain). (HF
  tokenizers, once it has run in parallel in this process, turns its parallelism off in a forked
  child, with a warning: `garden run` forks before anything is tokenized.)
- otherwise (a notebook, a test runner, a server: threads we do not know) and off Linux, the
  fork server: a fresh interpreter, started once per caller, that imports the task modules
  (`preload`) and forks the workers. Nothing of the caller's threads is copied.

One worker means no pool at all: tasks run in the calling process, with nothing pickled.

This module depends on nothing else in Garden, so that both the executor and the analysis
commands can use it without importing each other.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Sequence


class TaskFailed(RuntimeError):
    """A task raised; `args` are the arguments it was called with, `__cause__` the exception."""

    def __init__(self, args: tuple, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.task_args = args
        self.exc = exc


def start_method() -> str:
    """"fork" where forking the caller is safe (Linux, no Python thread but this one), else
    "forkserver" (see the module's docstring)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "forkserver"


def context(preload: Sequence[str] = (), method: str | None = None) -> Any:
    """The multiprocessing context of Garden's workers (and of the queues they share): `method`
    or start_method()'s choice. The fork server imports `preload` once before its first fork
    (only the first call's `preload` counts: there is one server per process)."""
    ctx = mp.get_context(method or start_method())
    if ctx.get_start_method() == "forkserver" and preload:
        ctx.set_forkserver_preload(list(preload))
    return ctx


def _worker_init(driver_alive: Any, inherited_end: Any, initializer: Callable[..., Any] | None,
                 initargs: tuple) -> None:
    """In each worker: exit as soon as the driver is gone (even killed with -9), then the caller's
    initializer. A worker of the fork server has that server as its parent, which outlives a
    killed driver as long as a worker runs, so the worker watches the driver itself: the read end
    of a pipe whose only write end the driver holds reads EOF when the driver dies. A worker
    forked from the driver inherits a copy of that write end (`inherited_end`): it closes it."""
    if inherited_end is not None:
        inherited_end.close()

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
                 initargs: Sequence[Any] = (), preload: Sequence[str] = (), ctx: Any = None) -> None:
        """`ctx`: the context of queues in `initargs` (context(preload)), so that the workers
        start the same way; made here when not given."""
        self.workers = workers
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._preload = list(preload)
        self._ctx = ctx
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._alive: tuple[Any, Any] | None = None

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def start(self) -> "ProcessPool":
        """Launch every worker now (not at the first task): forked at once, or from the fork
        server in the background, so that the caller plans while its imports run."""
        if not self.in_process and self._pool is None:
            ctx = self._ctx or context(self._preload)
            forked = ctx.get_start_method() == "fork"
            self._alive = ctx.Pipe(duplex=False)  # (read end for the workers, write end kept here)
            pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                       initargs=(self._alive[0], self._alive[1] if forked else None,
                                                 self._initializer, self._initargs))
            self._pool = pool

            def launch() -> None:  # the pool starts its workers at the first submitted task
                for _ in range(self.workers):
                    pool.submit(_ready)

            if forked:  # from this thread, before the pool's own threads exist
                with warnings.catch_warnings():  # Python >= 3.12 warns of any OS thread: see the docstring
                    warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
                    launch()
            else:  # the first worker waits for the fork server's imports: not on the caller's time
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
