"""Local executor: the tasks of a stage on Garden's process pool (garden.pool), or in-process for one worker."""
from __future__ import annotations

import queue as queue_mod
import threading
from typing import Callable, Iterator

from garden.executor import tasks
from garden.pool import ProcessPool, TaskFailed, context


class TaskError(RuntimeError):
    """A task failed; the message names the stage and shard."""


class LocalExecutor:
    """Runs typed tasks (their `run()`); results come back as tasks complete.

    With more than one worker the pool is started here, when the run begins and before the run
    starts a thread of its own, so that the workers are forked from the driver where that is
    safe, or import pyarrow and the task code in the fork server while the driver plans
    (garden.pool)."""

    name = "local"

    def __init__(self, workers: int, on_progress: Callable[[int, int, int], None]) -> None:
        self.workers = workers
        self.on_progress = on_progress
        self._queue = None
        self._drain: threading.Thread | None = None
        self._stop = threading.Event()
        self._pool = ProcessPool(1)
        if workers > 1:
            ctx = context([tasks.__name__])
            self._queue = ctx.Queue()  # progress from the workers
            self._pool = ProcessPool(workers, tasks.init_worker, (self._queue,), preload=[tasks.__name__],
                                     ctx=ctx).start()
            self._drain = threading.Thread(target=self._drain_progress, daemon=True)
            self._drain.start()

    def _drain_progress(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            if item is None:  # close(): nothing more will come
                return
            self.on_progress(*item)

    def run(self, task_list: list[tasks.Task]) -> Iterator[tasks.Result]:
        if not task_list:
            return
        if self.workers == 1:
            tasks.set_progress(self.on_progress)
        try:
            for _, result in self._pool.run(tasks.run_task, [(t,) for t in task_list]):
                yield result
        except TaskFailed as failed:
            exc = failed.exc
            raise TaskError(f"{failed.task_args[0].describe()} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._pool.close()  # the workers have exited: their progress is all in the queue
        if self._drain is not None:
            self._queue.put(None)  # ends the drain after what the workers sent, without waiting for a timeout
            self._drain.join(timeout=1)
            self._drain = None
        self._stop.set()
