"""Build and run the torchrun command line for a resolved config (stdlib + psutil)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from trainer.signals import die_with_parent


def write_resolved(cfg: dict) -> Path:
    """Write the resolved config the workers read to <run_dir>/config.json."""
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "config.json"
    path.write_text(json.dumps(cfg, indent=1))
    return path


EXIT_STATUS = "exit_status.json"


def write_exit_status(run_dir: str, code: int, message: str) -> None:
    """Rank 0: the exit code and message of a handled stop, for `garden train` to return."""
    path = Path(run_dir) / EXIT_STATUS
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"code": code, "message": message}))
    os.replace(tmp, path)


def pop_exit_status(run_dir: str) -> dict | None:
    """Read and remove the handled-stop record (None when the run ended normally)."""
    path = Path(run_dir) / EXIT_STATUS
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    return status


def torchrun_command(config_json: Path, nproc: int, nnodes: int = 1, node_rank: int = 0,
                     master_addr: str | None = None, master_port: int = 29500) -> list[str]:
    """torchrun: standalone rendezvous on one node, static master address across nodes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        if not master_addr:
            raise ValueError("--master-addr is required with --nnodes > 1")
        cmd += [f"--nnodes={nnodes}", f"--node-rank={node_rank}",
                f"--master-addr={master_addr}", f"--master-port={master_port}"]
    return cmd + ["-m", "trainer.worker", str(config_json)]


def cpu_threads(nproc: int) -> int:
    """Intra-op threads per worker on CPU: the cores this process may use, shared evenly."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, nproc))


def worker_env(cuda: bool, nproc: int) -> dict[str, str]:
    """The workers' environment: on CPU, OMP_NUM_THREADS = cores // processes and
    OMP_WAIT_POLICY=PASSIVE unless set.  Spinning OpenMP threads make a step ~20x slower as
    soon as anything else shares the cores (bench/bench_train_threads.py); sleeping ones do not."""
    env = dict(os.environ)
    if not cuda:
        if not env.get("OMP_NUM_THREADS"):
            env["OMP_NUM_THREADS"] = str(cpu_threads(nproc))
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


@dataclass
class Outcome:
    code: int  # torchrun's exit code
    signal: str | None  # the stop signal this process received and forwarded, if any


def run(cmd: list[str], env: dict[str, str] | None = None) -> Outcome:
    """Run torchrun in the foreground, streaming its output.

    torchrun runs in its own session: a Ctrl-C (or SIGTERM) reaches only this process, which
    forwards it to the workers themselves; they save a checkpoint at the next step
    boundary and exit cleanly (torchrun itself would tear them down with tracebacks).  A second
    signal kills everything at once.
    """
    import psutil

    got: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum))
           for s in (signal.SIGINT, signal.SIGTERM)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    told: set[int] = set()
    try:
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if not got:
                continue
            try:
                workers = psutil.Process(proc.pid).children()
            except psutil.NoSuchProcess:
                workers = []
            if len(got) == 1:
                for w in workers:
                    if w.pid not in told:
                        told.add(w.pid)
                        _signal(w, got[0])
            else:
                print("garden train: second signal: stopping without saving", file=sys.stderr,
                      flush=True)
                for w in workers:
                    _signal(w, signal.SIGKILL)
                proc.kill()
                code = proc.wait()
                break
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return Outcome(code, signal.Signals(got[0]).name if got else None)


def _signal(p, sig: int) -> None:
    import psutil

    try:
        p.send_signal(sig)
    except psutil.NoSuchProcess:
        pass
