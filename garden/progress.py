"""Progress display: a live bar per stage on a terminal, plain log lines otherwise."""
from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self._lock = threading.Lock()
        self._rich = None
        self._task = None
        self._reset("", 0)

    def _reset(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.docs, self.nbytes = 0, 0
        self.t0 = time.monotonic()
        self._last_log = self.t0

    def log(self, message: str) -> None:
        if self.enabled:
            if self._rich is not None:
                self._rich.console.print(message)
            else:
                print(message, file=self.stream, flush=True)

    def start(self, label: str, total_tasks: int, skipped: int = 0) -> None:
        with self._lock:
            self._reset(label, total_tasks)
            self.done = skipped
        if not self.enabled:
            return
        if skipped:
            self.log(f"[{label}] {skipped}/{total_tasks} tasks already complete (resumed)")
        if self.live:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            if self._rich is None:
                self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                          TextColumn("ETA"), TimeRemainingColumn(), stream=self.stream)
                self._rich.start()
            self._task = self._rich.add_task(label, total=total_tasks, completed=skipped, rate="")

    def _rate(self) -> str:
        dt = max(time.monotonic() - self.t0, 1e-6)
        return f"{self.docs / dt:,.0f} docs/s {self.nbytes / dt / 1e6:,.1f} MB/s"

    def advance(self, docs: int, nbytes: int) -> None:
        with self._lock:
            self.docs += docs
            self.nbytes += nbytes
            if not self.enabled:
                return
            if self._rich is not None and self._task is not None:
                self._rich.update(self._task, rate=self._rate())
            elif time.monotonic() - self._last_log > 10:
                self._last_log = time.monotonic()
                self.log(f"[{self.label}] {self.done}/{self.total} tasks, {self.docs:,} docs, {self._rate()}")

    def task_done(self) -> None:
        with self._lock:
            self.done += 1
            if self._rich is not None and self._task is not None:
                self._rich.update(self._task, completed=self.done, rate=self._rate())

    def finish(self) -> None:
        if not self.enabled:
            return
        dt = time.monotonic() - self.t0
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, completed=self.total, rate=self._rate())
        else:
            rates = f", {self.docs:,} docs ({self._rate()})" if self.docs else ""
            self.log(f"[{self.label}] done: {self.total} tasks in {dt:.1f}s{rates}")

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
