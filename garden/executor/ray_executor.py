"""Ray executor: the same typed tasks as the local executor, run as Ray tasks on one or many machines.

Every stage (fused streaming maps, and a global operator's scan and reduce phases) reaches the
executor as a list of tasks (garden.executor.tasks); each becomes one Ray task that calls
`task.run()`, exactly what a local pool worker calls. Outputs, markers, stats and reports are
therefore the same as with `--executor local`.

Paths are plain filesystem paths: on several machines they must name the same files everywhere
(a shared filesystem mounted at the same place; see docs/ray.md). Tasks run in the driver's
working directory when it exists on the node, so relative recipe paths work on one machine and
on clusters whose nodes mount the project at the same path.

A task whose worker process dies (killed, OOM, node lost) is retried by Ray up to
`max_retries` times (env GARDEN_RAY_MAX_RETRIES, default 3); an exception raised by the task
itself is not retried (it would fail again, as it does locally). When a task fails for good
the run stops with the shard, the error and the tail of the last worker's log.
"""
from __future__ import annotations

import glob
import logging
import os
import time
from itertools import islice
from typing import Any, Iterator

from garden.executor.pool import TaskError
from garden.executor.tasks import Result, Task

DEFAULT_MAX_RETRIES = 3
PROGRESS_INTERVAL_S = 0.5   # how often workers send progress and the driver collects it
LOG_TAIL_LINES = 40


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'garden[ray]' (or pip install 'ray>=2.9'); "
                           "for ray:// addresses pip install 'ray[client]'") from None
    return ray


# -- worker side -------------------------------------------------------------------------------

# Where the data lives, never who may read it: credentials stay with each node's own
# configuration (instance roles, ~/.aws) unless GARDEN_RAY_ENV names them.
FORWARDED_ENV = ("PYTHONPATH", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_PROFILE", "GOOGLE_CLOUD_PROJECT")


def forwarded_env(environ: dict[str, str] | os._Environ) -> dict[str, str]:
    """The driver's variables that cluster workers need: plugin path, storage endpoints and
    fsspec settings (FSSPEC_*), plus every name listed in GARDEN_RAY_ENV (comma-separated)."""
    extra = [n.strip() for n in environ.get("GARDEN_RAY_ENV", "").split(",") if n.strip()]
    names = [*FORWARDED_ENV, *sorted(k for k in environ if k.startswith("FSSPEC_")), *extra]
    return {k: environ[k] for k in names if environ.get(k)}


def remove_attempt_leftovers(task: Task) -> int:
    """Delete temp files an earlier, killed attempt of this task left next to its outputs.

    Locally a dead worker stops the run and the next run cleans up; on Ray the retry goes on in
    the same run, so without this a killed attempt's temp file (`fs.temp_path`) would stay in data/.
    Only Garden's own temp names next to what the task declares it writes (`task.outputs()`) are removed.
    """
    from garden.io import fs

    removed = 0
    for out in task.outputs():
        path, is_dir = out.path, out.is_dir
        if not path or "://" in path:
            continue  # writes to URLs are staged on the worker's disk, never next to the output
        if is_dir:
            pattern = fs.temp_glob_under(path)
        else:
            pattern = fs.temp_glob(path)
        for leftover in glob.glob(pattern, recursive=True):
            if fs.is_temp_name(os.path.basename(leftover)):
                try:
                    os.remove(leftover)
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


class _ProgressSender:
    """Coalesces a task's per-batch progress into one actor message per interval."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter
        self.pending: dict[int, list[int]] = {}
        self.last = time.monotonic()
        self.sent = False

    def __call__(self, stage: int, docs: int, nbytes: int) -> None:
        acc = self.pending.setdefault(stage, [0, 0])
        acc[0] += docs
        acc[1] += nbytes
        if time.monotonic() - self.last >= PROGRESS_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.reporter.add.remote(self.pending)  # fire and forget
            self.sent = True
            self.pending = {}
        self.last = time.monotonic()

    def finish(self) -> dict[int, list[int]]:
        """At the end of a task: what is left to report, to travel with the result.

        A task that already sent messages waits until the reporter has them (one worker's calls
        arrive in order), so a stage's progress is complete when its last result is in.
        """
        if self.sent:
            import ray

            ray.get(self.reporter.add.remote(self.pending))
            self.pending = {}
        left, self.pending = self.pending, {}
        return left


def _worker_log_path() -> str:
    """The file this worker's stderr goes to (Ray redirects it into the session's logs/)."""
    try:
        return os.readlink("/proc/self/fd/2")
    except OSError:
        return ""


def run_ray_task(task: Task, key: str, reporter: Any, driver_cwd: str) -> tuple[Result, dict]:
    """The body of every Ray task: set up the worker like a pool worker, run the task; returns
    the task's result and the progress counts not yet sent."""
    import ray
    import socket

    from garden.executor import tasks

    if os.getcwd() != driver_cwd:
        if os.path.isdir(driver_cwd):
            os.chdir(driver_cwd)  # relative recipe paths resolve as on the driver
        else:
            relative = [p for p in task.paths() if p and not os.path.isabs(p) and "://" not in p]
            if relative:
                raise FileNotFoundError(
                    f"'{relative[0]}' is relative to the driver's directory {driver_cwd}, which this node "
                    f"({socket.gethostname()}) does not have: use absolute paths on a filesystem every node mounts")
    ctx = ray.get_runtime_context()
    ray.get(reporter.started.remote(key, {"node": ctx.get_node_id(), "host": socket.gethostname(),
                                          "pid": os.getpid(), "log": _worker_log_path()}))
    remove_attempt_leftovers(task)
    sender = _ProgressSender(reporter)
    tasks.set_progress(sender)
    try:
        result = task.run()
    finally:
        tasks.set_progress(None)
    return result, sender.finish()


class _Reporter:
    """Driver-side mailbox (a Ray actor): progress counts and which worker ran each task."""

    def __init__(self) -> None:
        self.progress: dict[int, list[int]] = {}
        self.attempts: dict[str, list[dict]] = {}
        self.nodes: set[str] = set()
        self.started_tasks = 0

    def add(self, counts: dict[int, list[int]]) -> None:
        for stage, (docs, nbytes) in counts.items():
            acc = self.progress.setdefault(stage, [0, 0])
            acc[0] += docs
            acc[1] += nbytes

    def drain(self) -> dict[int, list[int]]:
        out, self.progress = self.progress, {}
        return out

    def started(self, key: str, info: dict) -> None:
        self.attempts.setdefault(key, []).append(info)
        self.nodes.add(info["node"])
        self.started_tasks += 1

    def usage(self) -> tuple[int, int]:
        """(task attempts, distinct nodes) so far."""
        return self.started_tasks, len(self.nodes)

    def attempts_of(self, key: str) -> list[dict]:
        return self.attempts.get(key, [])

    def forget(self, keys: list[str]) -> None:
        for k in keys:
            self.attempts.pop(k, None)


# -- driver side -------------------------------------------------------------------------------

def _log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a worker log, when this machine can read it."""
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _error_text(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # RayTaskError: the task's own exception
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}".strip()


class RayExecutor:
    """Runs typed tasks as Ray tasks (each calls `task.run()`); results come back as tasks complete."""

    name = "ray"

    def __init__(self, workers: int, progress: Any = None, address: str | None = None,
                 max_retries: int | None = None) -> None:
        ray = _import_ray()
        self._ray = ray
        self.progress = progress
        self.max_retries = int(os.environ.get("GARDEN_RAY_MAX_RETRIES", DEFAULT_MAX_RETRIES)
                               if max_retries is None else max_retries)
        self._owns_ray = False
        if not ray.is_initialized():
            self._init_ray(workers, address)
            self._owns_ray = True
        # A local instance has exactly `workers` CPUs; on a cluster, every CPU works.
        self.workers = workers if self._owns_ray and not address else max(int(ray.cluster_resources().get("CPU", 1)), 1)
        self._reporter = ray.remote(num_cpus=0)(_Reporter).remote()
        self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(run_ray_task)
        self._cwd = os.getcwd()
        self._seq = 0
        self._last_drain = time.monotonic()

    def _init_ray(self, workers: int, address: str | None) -> None:
        ray = self._ray
        kw: dict[str, Any] = dict(logging_level=logging.WARNING, log_to_driver=True)
        if address:
            # Workers of a cluster do not inherit this shell's environment: plugins found through
            # PYTHONPATH and where the storage is must be passed on.
            env = forwarded_env(os.environ)
            if env:
                kw["runtime_env"] = {"env_vars": env}
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=workers, include_dashboard=False,
                     object_store_memory=int(os.environ.get("GARDEN_RAY_OBJECT_STORE_BYTES", 256 << 20)), **kw)

    def _advance(self, counts: dict[int, list[int]]) -> None:
        if self.progress is not None:
            for _stage, (docs, nbytes) in sorted(counts.items()):
                self.progress.advance(docs, nbytes)

    def _drain_progress(self, force: bool = False) -> None:
        if self.progress is None or (not force and time.monotonic() - self._last_drain < PROGRESS_INTERVAL_S):
            return
        self._last_drain = time.monotonic()
        self._advance(self._ray.get(self._reporter.drain.remote()))

    def _max_in_flight(self) -> int:
        """Enough queued tasks to keep every CPU busy, few enough that ray.wait stays cheap."""
        cpus = int(self._ray.cluster_resources().get("CPU", self.workers))
        return max(4, 2 * cpus)

    def _failure(self, what: str, key: str, exc: BaseException) -> TaskError:
        ray = self._ray
        try:
            attempts = ray.get(self._reporter.attempts_of.remote(key), timeout=10)
        except Exception:  # noqa: BLE001 - the reporter is a courtesy; the error itself matters
            attempts = []
        crashed = not isinstance(exc, ray.exceptions.RayTaskError)
        lines = [f"{what} failed on Ray after {len(attempts) or 1} attempt(s)"
                 + (f" (worker died; max_retries={self.max_retries})" if crashed else "")
                 + f": {_error_text(exc)}"]
        if attempts:
            last = attempts[-1]
            lines.append(f"last attempt: host {last['host']} pid {last['pid']}, worker log {last['log'] or '?'}")
            tail = _log_tail(last["log"])
            if tail:
                lines.append("worker log (last lines):\n" + tail)
        if not crashed:
            lines.append(str(exc))  # the remote traceback
            cause = getattr(exc, "cause", None)
            if isinstance(cause, (FileNotFoundError, PermissionError)) and len(ray.nodes()) > 1:
                lines.append("hint: every Ray node and the driver must see the same paths (a shared filesystem "
                             "mounted at the same place); see docs/ray.md")
        return TaskError("\n".join(lines))

    def run(self, task_list: list[Task]) -> Iterator[Result]:
        if not task_list:
            return
        ray = self._ray
        todo = iter(task_list)
        pending: dict[Any, tuple[Task, str]] = {}
        finished: list[str] = []

        def submit(task: Task) -> None:
            self._seq += 1
            key = f"{task.kind}-{self._seq}"
            ref = self._remote.remote(task, key, self._reporter, self._cwd)
            pending[ref] = (task, key)

        for task in islice(todo, self._max_in_flight()):
            submit(task)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=PROGRESS_INTERVAL_S)
                self._drain_progress()
                for ref in done:
                    task, key = pending.pop(ref)
                    try:
                        result, unsent = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        raise self._failure(task.describe(), key, exc) from None
                    self._advance(unsent)
                    finished.append(key)
                    nxt = next(todo, None)
                    if nxt is not None:
                        submit(nxt)
                    yield result
            self._drain_progress(force=True)
        finally:
            for ref in pending:
                # Kill, not interrupt: an interrupt can land in a fresh worker's imports (e.g. the
                # operator registry) and leave a half-initialised process that Ray would reuse.
                # The killed tasks wrote no marker; their temp files go at the next attempt or run.
                ray.cancel(ref, force=True)
            if finished:
                self._reporter.forget.remote(finished)

    def close(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            try:
                attempts, nodes = ray.get(self._reporter.usage.remote(), timeout=10)
                if attempts and self.progress is not None:
                    self.progress.log(f"ray: {attempts} task attempts on {nodes} node(s)")
                ray.kill(self._reporter)
            except Exception:  # noqa: BLE001 - already gone with its cluster
                pass
            if self._owns_ray:
                ray.shutdown()
