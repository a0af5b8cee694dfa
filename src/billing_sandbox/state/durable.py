"""A sandbox's state on disk: the last snapshot (the state file) and the write-ahead log of
every change since, appended before each change is carried out, replayed at start, and folded
into a new snapshot (compaction) when it grows.

Files, beside the state file `state.json`: `state.json.log`, the log being appended to, and
`state.json.log.old`, the log a compaction is folding in (gone once it has). Each log names the
snapshot generation it continues; each record carries a sequence number, and the snapshot the
last one it holds (`seq`): replay skips those, so nothing is applied twice. A compaction
exports from a forked child, which sees the state of one instant while requests go on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, NoReturn

from billing_sandbox.observe.metrics import Metrics
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.state import changes, snapshot, wal
from billing_sandbox.state.wal import LogDamaged, LogFile

log = logging.getLogger("billing_sandbox")

# The state file's own fields beside the snapshot's.
GENERATION = "generation"  # the log that continues this snapshot
SEQ = "seq"  # the last record every tenant's export holds
RATE_LIMITS = "rateLimits"  # each tenant's own rate limits
META = (GENERATION, SEQ, RATE_LIMITS)

Writer = Callable[[Path, bytes], None]
CallReplayer = Callable[[Sandbox, dict[str, Any]], None]
OutboxOf = Callable[[str, Any], Any]


class RecoveryFailed(Exception):
    """The log cannot be replayed; the start is refused, naming the file and why."""


class WriteAhead:
    """The write-ahead log of one sandbox (its `changes`)."""

    active = True

    def __init__(
        self,
        sandbox: Sandbox,
        state_file: Path,
        fsync: str,
        max_bytes: int,
        write_snapshot: Writer,
        own_fields: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.sandbox = sandbox
        self.state_file = state_file
        self.path = state_file.with_name(state_file.name + ".log")
        self.old_path = self.path.with_name(self.path.name + ".old")
        self.file = LogFile(self.path, fsync, sandbox.metrics)
        self.max_bytes = max_bytes
        self._write_snapshot = write_snapshot
        # What the state file holds beside the snapshot (the signing key), asked at each save.
        self._own_fields = own_fields
        self.generation = 0
        self.seq = 0
        self.compacting: asyncio.Task[None] | None = None

    # ---- appending ----

    def append(self, record: dict[str, Any]) -> None:
        record["seq"] = self.seq + 1
        self.file.append(record)
        self.seq += 1

    def sync(self) -> None:
        self.file.sync()

    def due_for_compaction(self) -> bool:
        return self.compacting is None and self.file.size > self.max_bytes

    # ---- start ----

    def recover(self, meta: dict[str, Any], replay_call: CallReplayer, outbox_of: OutboxOf) -> int:
        """Replay the logs over the snapshot just loaded (whose own fields are `meta`); returns
        how many records were replayed. Then the log goes on from where it was."""
        generation = meta.get(GENERATION, 0)
        base = self.seq = meta.get(SEQ, 0)
        replayed = 0
        for path in (self.old_path, self.path):
            try:
                found = wal.read(path)
            except LogDamaged as error:
                raise RecoveryFailed(str(error)) from None
            except OSError as error:
                raise RecoveryFailed(f"{path} cannot be read: {error.strerror}") from None
            if found is None or found.generation < generation:
                continue  # folded into the snapshot already (a compaction's last step)
            if (
                found.header.get("seeding", self._seeding()["seeding"])
                != self._seeding()["seeding"]
            ):
                said = found.header["seeding"]
                raise RecoveryFailed(
                    f"{path} was written by a server with --seed {said['seed']} and --records "
                    f"{said['records']}: its calls replay only on the same seed data; start "
                    "with those settings"
                )
            if found.generation > generation + 1:
                raise RecoveryFailed(
                    f"{path} continues snapshot generation {found.generation - 1}, but "
                    f"{self.state_file} is generation {generation}: they are not one state"
                )
            for record in found.records:
                seq = record.get("seq", 0)
                if seq <= base:
                    continue  # in the snapshot already
                self._replay(record, replay_call, outbox_of, path)
                self.seq = max(self.seq, seq)
                replayed += 1
        self.generation = generation
        return replayed

    def _replay(
        self,
        record: dict[str, Any],
        replay_call: CallReplayer,
        outbox_of: OutboxOf,
        path: Path,
    ) -> None:
        try:
            if not changes.carry_out(self.sandbox, record, outbox_of):
                replay_call(self.sandbox, record)
        except (KeyError, TypeError, ValueError) as error:
            raise RecoveryFailed(
                f"{path}: record {record.get('seq')} ({record.get('t')}) cannot be carried "
                f"out again: {type(error).__name__}: {error}"
            ) from None

    def open(self, fresh: bool) -> None:
        """Append from here on: to the log as found, or (`fresh`) to a new one."""
        if fresh or not self.path.exists():
            self.file.open(self.generation, self._seeding())
        else:
            self.file.open(None)

    # ---- compaction ----

    def compact_now(self, write: Writer | None = None) -> dict[str, Any]:
        """Fold everything into a new snapshot at once (at start, at shutdown, on request,
        after a reset or restore of every tenant, which is kept so, not as a record); returns
        the document written."""
        if self.compacting is not None:
            self.compacting.cancel()
            self.compacting = None
        try:
            document = snapshot.export_all(self.sandbox)
            document |= self._own_fields()
            document[GENERATION] = self.generation + 1
            document[SEQ] = self.seq
            document[RATE_LIMITS] = self._rate_limits()
            (write or self._write_snapshot)(self.state_file, snapshot.encode(document))
            self.generation += 1
            self.file.close()
            self.file.open(self.generation, self._seeding())
            with suppress(FileNotFoundError):
                os.unlink(self.old_path)
        except Exception:
            self._count_compaction("failed")  # the caller says why, in its own words
            raise
        self._count_compaction("ok")
        return document

    def start_compaction(self) -> None:
        if self.compacting is not None:
            return
        if self.old_path.exists():
            # A compaction was cut off: two logs to fold in, which only a whole one does.
            self.compact_now()
            return
        self.compacting = asyncio.get_running_loop().create_task(self._compact())

    async def _compact(self) -> None:
        """Fold the log into a new snapshot while requests go on: the log is set aside and a
        new one started, and a child process (a fork: it sees the state as it is at that
        instant, copy-on-write, as Redis's BGSAVE does) exports every tenant to a temporary
        file; the rename comes back to this loop, so that a compaction cancelled meanwhile (a
        save made a snapshot first) never renames an older snapshot over a newer one."""
        if not hasattr(os, "fork"):
            self.compact_now()  # no fork on this platform: at once, holding requests
            self.compacting = None
            return
        temporary = self.state_file.with_name(f".{self.state_file.name}.compacting.tmp")
        child = 0
        try:
            self.file.close()
            os.replace(self.path, self.old_path)
            self.file.open(self.generation + 1, self._seeding())
            meta = {
                **self._own_fields(),
                GENERATION: self.generation + 1,
                SEQ: self.seq,
                RATE_LIMITS: self._rate_limits(),
            }
            with warnings.catch_warnings():
                # Python 3.12+ warns of forking a process with threads; the child only
                # exports, writes one file and leaves with os._exit, taking no lock they hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                child = os.fork()
            if child == 0:
                _export_in_child(self.sandbox, meta, temporary)
            _, status = await asyncio.to_thread(os.waitpid, child, 0)
            child = 0
            if status != 0:
                raise RuntimeError(f"the exporting process ended with status {status}")
            os.replace(temporary, self.state_file)
            wal.fsync_directory(self.state_file.parent)
            self.generation += 1
            with suppress(FileNotFoundError):
                os.unlink(self.old_path)
            self._count_compaction("ok")
        except asyncio.CancelledError:
            if child:
                # The thread waiting for it reaps it (it may have already).
                with suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            with suppress(FileNotFoundError):
                os.unlink(temporary)  # or the next start does (a leftover temporary file)
            raise
        except Exception:
            self._count_compaction("failed")
            log.exception("compacting the state log failed; it goes on growing and is tried again")
        finally:
            self.compacting = None

    def _count_compaction(self, outcome: str) -> None:
        """One compaction ended (`ok` or `failed`); one cancelled is not counted: the save
        that cancelled it compacts, and counts, itself."""
        if self.sandbox.metrics is not None:
            self.sandbox.metrics.count("log_compactions", outcome)

    def watch(self, metrics: Metrics) -> None:
        """The log's size as a gauge, read when Prometheus scrapes: what a restart replays,
        and how near the next compaction is (`--max-log-bytes`)."""
        metrics.watch("log_bytes", "Bytes in the state's write-ahead log.", lambda: self.file.size)

    def _seeding(self) -> dict[str, Any]:
        """What a tenant first written after the snapshot is seeded from: the log's calls
        replay on that data only."""
        settings = self.sandbox.settings
        return {"seeding": {"seed": settings.seed, "records": settings.records}}

    def _rate_limits(self) -> dict[str, Any]:
        return {
            tenant: changes.limits_of(self.sandbox, tenant)
            for tenant in sorted(self.sandbox.limits.overrides)
        }

    def close(self) -> None:
        self.file.close()


def _export_in_child(sandbox: Sandbox, meta: dict[str, Any], temporary: Path) -> NoReturn:
    """In the forked child: every tenant to `temporary`, flushed; then leave at once (no
    cleanup of what the parent still uses: its sockets, its files, its event loop)."""
    code = 1
    try:
        document = snapshot.export_all(sandbox)
        document |= meta
        data = snapshot.encode(document)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        code = 0
    finally:
        os._exit(code)
