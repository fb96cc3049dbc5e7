"""One-line messages for operating-system errors, instead of tracebacks.

A full disk, a folder without write permission or a read-only mount is not a bug in Garden:
the user needs the file and the cause, and what to do next, in one line.
"""
from __future__ import annotations

import errno

HINTS = {
    errno.ENOSPC: "the disk is full: free space (or set another output) and run the same command again",
    errno.EDQUOT: "the disk quota is used up: free space and run the same command again",
    errno.EACCES: "permission denied: check the folder's owner and permissions",
    errno.EPERM: "operation not permitted: check the folder's owner and permissions",
    errno.EROFS: "the file system is read-only: choose another output",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer workers",
    errno.ENOENT: "check the path (did a file move while the command ran?)",
}


def printable(text: str) -> str:
    """Text whose lone surrogates (bytes of a file name that is not UTF-8) are shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if isinstance(text, str) \
        else str(text)


def os_error_message(exc: OSError, where: str = "", resumable: bool = True) -> str:
    """`<file>: <cause>; <what to do>` for an OSError; `where` names the file when the error does not.

    Writes through an open file (the usual way to hit a full disk) carry no file name, so the
    caller passes the folder being written.
    """
    name = exc.filename if exc.filename is not None else where
    cause = exc.strerror or type(exc).__name__
    hint = HINTS.get(exc.errno or -1, "fix the cause and run the same command again")
    if resumable and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint += " (completed work is kept)"
    head = f"{printable(str(name))}: " if name not in (None, "") else ""
    return f"{head}{cause}; {hint}"
