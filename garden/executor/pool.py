"""Local executor: the tasks of a stage on a process pool (or in-process for one worker)."""
from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterator

from garden.executor import tasks


class TaskError(RuntimeError):
    """A task failed; the message names the stage and shard."""


class LocalExecutor:
    """Runs task dicts by name; results come back as tasks complete."""

    name = "local"

    def __init__(self, workers: int, on_progress: Callable[[int, int, int], None]) -> None:
        self.workers = workers
        self.on_progress = on_progress
        self._pool: ProcessPoolExecutor | None = None
        self._queue = None
        self._drain: threading.Thread | None = None
        self._stop = threading.Event()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: pyarrow's and tokenizers' thread pools do not survive a fork.
            ctx = mp.get_context("spawn")
            self._queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=tasks.init_worker,
                                             initargs=(self._queue,))
            self._drain = threading.Thread(target=self._drain_progress, daemon=True)
            self._drain.start()
        return self._pool

    def _drain_progress(self) -> None:
        while not self._stop.is_set():
            try:
                stage, docs, nbytes = self._queue.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            self.on_progress(stage, docs, nbytes)

    def run(self, fn_name: str, task_list: list[dict], describe: Callable[[dict], str]) -> Iterator[dict]:
        if not task_list:
            return
        if self.workers == 1:
            tasks.set_progress(self.on_progress)
            for task in task_list:
                try:
                    yield tasks.call(fn_name, task)
                except Exception as exc:
                    raise TaskError(f"{describe(task)} failed: {type(exc).__name__}: {exc}") from exc
            return
        pool = self._ensure_pool()
        pending = {pool.submit(tasks.call, fn_name, t): t for t in task_list}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        raise TaskError(f"{describe(task)} failed: {type(exc).__name__}: {exc}") from exc
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._drain is not None:
            self._drain.join(timeout=1)
