"""The files an input names: regular, readable, named in UTF-8, each read once.

Refused before any work, each with a message that names it: a FIFO (opening it waits for a
writer forever), a device or a socket (no end, or no content), an unreadable file, a link that
loops or leads nowhere, a file name that is not UTF-8 (ids, reports and quarantine entries are
UTF-8 text; rename the file). A file reached under two names (a symlink) is read once; a
symlinked directory that leads back to its own ancestor under `**` is reported, not entered.
"""
from __future__ import annotations

import dataclasses
import errno
import glob as _glob
import os
import stat
import sys
from typing import Any

from garden.io import fs

MAX_LISTED = 3  # problems named in one message
_reported: set[str] = set()  # loop warnings already printed by this process


class InputFileError(ValueError):
    """An input names something Garden cannot read as a file; the message names it."""


@dataclasses.dataclass(frozen=True)
class Listing:
    files: list[str]   # sorted, one name per file
    loops: list[str]   # symlinked directories under `**` not entered: they lead to an ancestor


def show(path: str) -> str:
    """A path as printable UTF-8: bytes that are not UTF-8 appear as \\xNN."""
    if fs.is_url(path):
        return path
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _problem(path: str) -> str | None:
    """Why `path` cannot be an input file, '' for a directory, None when it can."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return f"'{show(path)}': file name is not valid UTF-8 (rename it: ids and reports are UTF-8 text)"
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"'{show(path)}' is a symbolic link loop"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return f"'{show(path)}' is a broken symbolic link (to '{show(os.readlink(path))}')"
        return f"'{show(path)}': {exc.strerror}"
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return ""
    if stat.S_ISFIFO(mode):
        return f"'{show(path)}' is a FIFO (named pipe): reading it would wait for a writer; inputs are regular files"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"'{show(path)}' is a device: inputs are regular files"
    if stat.S_ISSOCK(mode):
        return f"'{show(path)}' is a socket: inputs are regular files"
    if not stat.S_ISREG(mode):
        return f"'{show(path)}' is not a regular file"
    if not os.access(path, os.R_OK):
        return f"'{show(path)}' is not readable (permission denied)"
    return None


def _direct(path: str) -> bool:
    """True when no symlink leads to `path`: the name to keep when a file has several."""
    return os.path.realpath(path) == os.path.abspath(path)


def list_input(pattern: str) -> Listing:
    """The files a path or pattern names; raises InputFileError naming what cannot be read."""
    magic = _glob.has_magic(pattern)
    if fs.is_url(pattern):  # object stores hold objects only: no pipes, devices or links
        return Listing(fs.glob(pattern) if magic else ([pattern] if fs.exists(pattern) else []), [])
    matches, loops = fs.local_glob(pattern) if magic else ([pattern] if os.path.lexists(pattern) else [], [])
    problems: list[str] = []
    by_real: dict[str, str] = {}
    for path in matches:
        problem = _problem(path)
        if problem == "":  # a directory: a pattern's match that is no file, or a path to name files in
            if not magic:
                problems.append(f"'{show(path)}' is a directory: name its files with a pattern such as "
                                f"'{show(os.path.join(path, '*.jsonl'))}'")
            continue
        if problem:
            problems.append(problem)
            continue
        real = os.path.realpath(path)
        kept = by_real.get(real)
        if kept is None or (_direct(path) and not _direct(kept)):
            by_real[real] = path
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise InputFileError("; ".join(problems[:MAX_LISTED]) + more)
    return Listing(sorted(by_real.values()), loops)


def report_loops(listing: Listing) -> None:
    """One warning per loop and process: the files are read once, the loop is not followed."""
    for loop in listing.loops:
        if loop not in _reported:
            _reported.add(loop)
            print(f"garden: warning: symlink loop not followed: '{show(loop)}' leads back to "
                  f"'{show(os.path.realpath(loop))}'", file=sys.stderr)


def input_files(inputs: list[Any]) -> list[list[str]]:
    """The files of each input (InputSpec), each file in one input only.

    One file named by two inputs would be read twice, as two sources or with two field
    mappings: that is an error naming both. Named twice in the same way, it is read once."""
    owner: dict[str, int] = {}
    out: list[list[str]] = []
    for i, spec in enumerate(inputs):
        mine = []
        for path in spec.files():
            real = path if fs.is_url(path) else os.path.realpath(path)
            j = owner.setdefault(real, i)
            if j == i:
                mine.append(path)
                continue
            other = inputs[j]
            if (other.source, other.text_field, other.id_field) != (spec.source, spec.text_field, spec.id_field):
                raise InputFileError(
                    f"inputs[{j}] (source '{other.source}') and inputs[{i}] (source '{spec.source}') both name "
                    f"'{show(path)}': a file is read once, as one source with one text_field and id_field; "
                    f"narrow one of the two paths")
        out.append(mine)
    return out
