"""Reading a file the user named (a pact, a spec, a journal) without trusting what it is.

A FIFO, a terminal or a device given where a file is expected would block the command at
`open` or never end its read: only a regular file is read, and that is checked on the opened
file itself (opened without waiting), so nothing can swap it between the check and the
read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Opening a FIFO for reading waits for a writer unless told not to; a terminal would become
# the process's controlling one. Neither flag changes how a regular file reads.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)


class NotAFile(OSError):
    """The path names something other than a regular file (a FIFO, a device, a socket)."""


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most `limit + 1` bytes of the regular file at `path` (one past the limit, so a
    caller can tell a file larger than it). Raises FileNotFoundError, IsADirectoryError,
    NotAFile, or another OSError saying why it cannot be read."""
    _require_regular(path, os.stat(path).st_mode)  # before opening: a device is not opened
    descriptor = os.open(path, _OPEN_FLAGS)
    with os.fdopen(descriptor, "rb") as file:
        _require_regular(path, os.fstat(file.fileno()).st_mode)  # what was opened, still
        return file.read(limit + 1)


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory")
    if not stat.S_ISREG(mode):
        raise NotAFile(f"{path} is not a regular file")
