"""One run per output folder at a time.

Locally the lock is an exclusive `flock` on `<run>/.garden-lock`: the kernel releases it when
the holder dies, however it dies, so a lock is never stale; the file keeps the holder's pid,
host and start time for the message a second run prints. On an object store there is no lock
primitive Garden can rely on, so the lock is a lease object that the holder refreshes every
`HEARTBEAT_S` seconds; a lease not refreshed for `LEASE_S` seconds belongs to a dead run and is
taken over; one of a dead process on this same host is taken over at once. Two runs started within the same moment on an object store can both write the
lease; each reads it back after a pause and only the one whose lease stayed goes on, which
narrows that window to the store's write latency but does not close it (docs: README).
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import threading
import time
from typing import Callable

from garden.io import fs
from garden.run_folder import LOCK

LEASE_S = 90.0
HEARTBEAT_S = 15.0
SETTLE_S = 2.0


def _alive(pid: int) -> bool:
    """Whether a process of this host still runs (a killed run's lease is taken over at once)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LockedError(RuntimeError):
    """Another run holds the output folder."""


@dataclasses.dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: float
    heartbeat: float = 0.0
    token: str = ""

    @classmethod
    def me(cls) -> "Holder":
        now = time.time()
        return cls(os.getpid(), socket.gethostname(), now, now, f"{socket.gethostname()}:{os.getpid()}:{now}")

    @classmethod
    def parse(cls, raw: bytes) -> "Holder | None":
        try:
            d = json.loads(raw)
            return cls(int(d["pid"]), str(d["host"]), float(d["started"]), float(d.get("heartbeat", 0)),
                       str(d.get("token", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def encode(self) -> bytes:
        return (json.dumps(dataclasses.asdict(self)) + "\n").encode()

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started))}"


class RunLock:
    """`with RunLock(root, log):` holds the output folder for this process, or raises LockedError."""

    def __init__(self, root: str, log: Callable[[str], None] = lambda _m: None) -> None:
        self.root = root
        self.path = fs.join(root, LOCK)
        self.log = log
        self._fh = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._me = Holder.me()

    def __enter__(self) -> "RunLock":
        if fs.is_url(self.root):
            self._acquire_lease()
        else:
            self._acquire_flock()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    # -- local: flock --------------------------------------------------------------------
    def _acquire_flock(self) -> None:
        import fcntl

        fh = open(self.path, "a+b")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = Holder.parse(fh.read())
            fh.close()
            who = holder.describe() if holder else "another process"
            raise LockedError(f"{self.root} is in use by another garden run ({who}); "
                              f"wait for it to finish, or choose another output") from None
        fh.seek(0)
        previous = Holder.parse(fh.read())
        if previous is not None:
            self.log(f"taking over the lock of a run that is no longer running ({previous.describe()})")
        fh.seek(0)
        fh.truncate()
        fh.write(self._me.encode())
        fh.flush()
        self._fh = fh

    # -- object stores: a lease ----------------------------------------------------------
    def _read_lease(self) -> "Holder | None":
        try:
            return Holder.parse(fs.read_bytes(self.path))
        except FileNotFoundError:
            return None

    def _acquire_lease(self) -> None:
        current = self._read_lease()
        if current is not None:
            age = time.time() - current.heartbeat
            if current.host == socket.gethostname() and not _alive(current.pid):
                self.log(f"taking over the lease of a run that is no longer running ({current.describe()})")
            elif age < LEASE_S:
                raise LockedError(f"{self.root} is in use by another garden run ({current.describe()}, "
                                  f"lease refreshed {age:.0f} s ago); wait for it to finish, or choose another "
                                  f"output (a lease not refreshed for {LEASE_S:.0f} s is taken over)")
            self.log(f"taking over the lease of a run that stopped refreshing it {age:.0f} s ago "
                     f"({current.describe()})")
        fs.atomic_write_bytes(self.path, self._me.encode())
        time.sleep(SETTLE_S)
        current = self._read_lease()
        if current is None or current.token != self._me.token:
            who = current.describe() if current else "another process"
            raise LockedError(f"{self.root}: another garden run ({who}) took the lease at the same moment")
        self._beat = threading.Thread(target=self._heartbeat, name="garden-lease", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            beat = dataclasses.replace(self._me, heartbeat=time.time())
            try:
                fs.atomic_write_bytes(self.path, beat.encode())
            except Exception as exc:  # a missed beat is survivable; the next one retries
                self.log(f"warning: could not refresh the run lease {self.path}: {exc}")

    def release(self) -> None:
        if self._fh is not None:
            import fcntl

            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            self._beat = None
            fs.remove(self.path)
