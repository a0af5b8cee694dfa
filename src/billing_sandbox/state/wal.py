"""The write-ahead log file: JSON records appended one to a line, each framed by its length and
a CRC, read back with a torn last record dropped and any other damage refused.

A line is `<length:8 hex> <crc32:8 hex> <JSON>\\n`. orjson never writes a raw newline inside
JSON, so lines are records; the length and CRC tell a record cut short by a kill (only ever
the last one: nothing is appended after it) from a damaged one (anywhere else).
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from billing_sandbox.errors import StorageUnavailable
from billing_sandbox.observe.metrics import Metrics

log = logging.getLogger("billing_sandbox")

FORMAT = "billing-sandbox-log/1"
_HEAD = 18  # "xxxxxxxx xxxxxxxx "


class LogDamaged(Exception):
    """A record that is not the last cannot be read: the log cannot be trusted past it."""


@dataclass(frozen=True)
class Read:
    """What a log file holds: its generation (the snapshot it continues), what else its
    header says (the seed data its calls were made on), and its records."""

    generation: int
    header: dict[str, Any]
    records: list[dict[str, Any]]


def frame(record: dict[str, Any]) -> bytes:
    payload = orjson.dumps(record)
    return b"%08x %08x %s\n" % (len(payload), zlib.crc32(payload), payload)


def read(path: Path) -> Read | None:
    """The log at `path` (None when there is none). A torn last record is cut off the file,
    with one warning; damage before the end raises `LogDamaged` naming the offset."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    records: list[dict[str, Any]] = []
    for offset, record in _records(data, path):
        if record is None:
            log.warning(
                "%s: the last record (at byte %d) was cut short, by a kill mid-write; it was "
                "never acknowledged, and is dropped",
                path,
                offset,
            )
            with path.open("r+b") as file:
                file.truncate(offset)
                os.fsync(file.fileno())
            break
        records.append(record)
    if not records or records[0].get("log") != FORMAT:
        raise LogDamaged(f"{path}: not a billing-sandbox write-ahead log ({FORMAT})")
    generation = records[0].get("generation")
    if not isinstance(generation, int):
        raise LogDamaged(f"{path}: its first record names no generation")
    return Read(generation, records[0], records[1:])


def _records(data: bytes, path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Each record with its offset; `None` for a torn last one."""
    offset = 0
    end = len(data)
    while offset < end:
        problem = None
        record: Any = None
        head = data[offset : offset + _HEAD]
        try:
            length, crc = int(head[0:8], 16), int(head[9:17], 16)
        except ValueError:
            length = crc = -1
            problem = "its frame is unreadable"
        stop = offset + _HEAD + max(length, 0)
        if problem is None:
            payload = data[offset + _HEAD : stop]
            if stop >= end or data[stop : stop + 1] != b"\n":
                problem = "it is cut short"
            elif zlib.crc32(payload) != crc:
                problem = "its checksum does not match"
            else:
                try:
                    record = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    problem = "it is not JSON"
        if problem is not None:
            last = problem == "it is cut short" or data.find(b"\n", offset) in (-1, end - 1)
            if last:
                yield offset, None
                return
            raise LogDamaged(
                f"{path}: the record at byte {offset} is damaged ({problem}), and records follow "
                "it; the log cannot be replayed past it. Move the file aside to start from the "
                "state file alone (losing the writes after it), or restore it from a backup"
            )
        if not isinstance(record, dict):
            raise LogDamaged(f"{path}: the record at byte {offset} is not a JSON object")
        yield offset, record
        offset = stop + 1


class LogFile:
    """The log being appended to: every record reaches the file (the page cache) before the
    change it describes is carried out; `fsync` decides when it reaches the disk. `metrics`:
    where appends, their bytes and each fsync's time are counted (None counts nothing)."""

    def __init__(self, path: Path, fsync: str, metrics: Metrics | None = None) -> None:
        self.path = path
        self.fsync = fsync
        self.metrics = metrics
        self._fd = -1
        self.size = 0
        self._unsynced = False

    def open(self, generation: int | None, header: dict[str, Any] | None = None) -> None:
        """Continue the log at `path`, or (with a `generation`) start it anew, atomically,
        its header saying `header` too."""
        if generation is not None:
            start_file(self.path, generation, header or {})
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size

    def append(self, record: dict[str, Any]) -> None:
        data = frame(record)
        try:
            _write_all(self._fd, data)
        except OSError as error:
            # A part of it may be written: cut it off, so that the log stays whole for the next.
            try:
                os.ftruncate(self._fd, self.size)
            except OSError as cut:
                # The next start drops a torn last record; one torn in the middle stops it.
                log.error("%s: a failed write could not be cut off the log: %s", self.path, cut)
            raise StorageUnavailable(
                f"the change was not made: the sandbox could not write it to its state log "
                f"({error.strerror or error}); try again once there is room"
            ) from None
        self.size += len(data)
        if self.metrics is not None:
            self.metrics.count("log_appends")
            self.metrics.count("log_appended_bytes", amount=len(data))
        if self.fsync == "always":
            self._sync()
        else:
            self._unsynced = True

    def sync(self) -> None:
        """Flush what was appended to the disk (every second, in that mode)."""
        if self._unsynced and self.fsync != "off":
            self._sync()

    def _sync(self) -> None:
        try:
            self._timed_fsync()
        except OSError as error:
            raise StorageUnavailable(
                f"the sandbox could not flush its state log to disk ({error.strerror})"
            ) from None
        self._unsynced = False

    def close(self) -> None:
        if self._fd >= 0:
            if self.fsync != "off":
                self._timed_fsync()
            os.close(self._fd)
            self._fd = -1

    def _timed_fsync(self) -> None:
        """fsync the log, its time observed: a disk that stalls shows here before anywhere."""
        if self.metrics is None:
            os.fsync(self._fd)
            return
        began = time.perf_counter()
        os.fsync(self._fd)
        self.metrics.observe("log_fsync_duration_seconds", time.perf_counter() - began)


def start_file(path: Path, generation: int, more: dict[str, Any]) -> None:
    """A new log at `path` holding only its header, put in place atomically (a crash leaves
    the old log or the new one, never a mix)."""
    temporary = path.with_name(path.name + ".new")
    header = frame({"log": FORMAT, "generation": generation, **more})
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(descriptor, header)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (where the platform allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    written = os.write(descriptor, data)  # one call for a whole record, nearly always
    if written < len(data):
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(descriptor, view) :]
