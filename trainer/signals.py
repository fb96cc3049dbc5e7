"""Graceful stop: SIGINT/SIGTERM only set a flag; the loop stops at the next step boundary.

Every rank ORs the flag into the loss all-reduce of each step, so all ranks agree on the
iteration at which they save and exit, whichever rank the signal reached (stdlib only: it is
installed before torch is imported, so a signal during start-up is not lost either).
"""

from __future__ import annotations

import signal

_received: list[int] = []


def _handler(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    _received.append(signum)


def install() -> None:
    """Catch SIGINT and SIGTERM in this process from now on."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


def requested() -> bool:
    """Whether this process received a stop signal."""
    return bool(_received)


def name() -> str | None:
    """The first signal received (e.g. 'SIGINT'), or None."""
    return signal.Signals(_received[0]).name if _received else None


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; a no-op
    elsewhere), so helpers never outlive a killed rank or launcher."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
