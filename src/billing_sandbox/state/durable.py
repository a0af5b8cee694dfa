"""A sandbox's state on disk: the last snapshot (the state file) and the write-ahead log of
every change since, appended before each change is carried out, replayed at start, and folded
into a new snapshot (compaction) when it grows.

Files, beside the state file `state.json`: `state.json.log`, the log being appended to, and
`state.json.log.old`, the log a compaction is folding in (gone once it has). Each log names the
snapshot generation it continues; each record carries a sequence number. A compaction exports
tenants one at a time, between requests, noting for each the last record its export holds;
replay skips a tenant's records up to that mark, so nothing is applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson

from billing_sandbox.state import changes, snapshot, wal
from billing_sandbox.state.wal import LogDamaged, LogFile
from billing_sandbox.tenancy import Sandbox

log = logging.getLogger("billing_sandbox")

# The state file's own fields beside the snapshot's.
GENERATION = "generation"  # the log that continues this snapshot
SEQ = "seq"  # the last record every tenant's export holds
TENANT_SEQ = "tenantSeq"  # per tenant, the last record its export holds (past `seq`)
RATE_LIMITS = "rateLimits"  # each tenant's own rate limits
META = (GENERATION, SEQ, TENANT_SEQ, RATE_LIMITS)

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
        in_two_steps: tuple[Callable[[Path, bytes], Path], Callable[[Path, Path], None]]
        | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.state_file = state_file
        self.path = state_file.with_name(state_file.name + ".log")
        self.old_path = self.path.with_name(self.path.name + ".old")
        self.file = LogFile(self.path, fsync)
        self.max_bytes = max_bytes
        self._write_snapshot = write_snapshot
        # What the state file holds beside the snapshot (the signing key), asked at each save.
        self._own_fields = own_fields
        # The same write as two halves: the slow one (off the event loop), then the rename.
        self._in_two_steps = in_two_steps
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
        marks: dict[str, int] = meta.get(TENANT_SEQ, {})
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
                tenant = record.get("tenant")
                # In the snapshot already: every record up to `base`, and a tenant's up to the
                # moment a compaction exported it.
                if seq <= base or (isinstance(tenant, str) and seq <= marks.get(tenant, 0)):
                    continue
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
        """Fold the log into a new snapshot a tenant at a time, requests served between."""
        try:
            self.file.close()
            os.replace(self.path, self.old_path)
            self.file.open(self.generation + 1, self._seeding())
            begun = self.seq
            limits = self._rate_limits()
            sandbox = self.sandbox
            ids = sorted({*sandbox.tenants(), *sandbox.spilled()})
            parts: dict[str, bytes] = {}
            marks: dict[str, int] = {}
            for tenant_id in ids:
                await asyncio.sleep(0)  # one tenant's export at a time, then the requests
                held = sandbox.held(tenant_id)
                if held is not None:
                    exported = snapshot.export_tenant(sandbox, held)
                elif sandbox.overflow is not None and tenant_id in sandbox.spilled():
                    exported = sandbox.overflow.read(tenant_id)
                else:
                    continue  # reset meanwhile: its records replay over its seed
                parts[tenant_id] = orjson.dumps(exported)
                marks[tenant_id] = self.seq
            meta = {**self._own_fields(), GENERATION: self.generation + 1, SEQ: begun}
            meta |= {TENANT_SEQ: marks, RATE_LIMITS: limits}
            data = _assemble(parts, meta)
            if self._in_two_steps is None:
                self._write_snapshot(self.state_file, data)
            else:
                write_beside, put_in_place = self._in_two_steps
                # Off the event loop; the rename comes back to it, so that a compaction
                # cancelled meanwhile (a save made the snapshot first) never renames an older
                # snapshot over a newer one.
                written = await asyncio.to_thread(write_beside, self.state_file, data)
                put_in_place(written, self.state_file)
            self.generation += 1
            with suppress(FileNotFoundError):
                os.unlink(self.old_path)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("compacting the state log failed; it goes on growing and is tried again")
        finally:
            self.compacting = None

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


def _assemble(parts: dict[str, bytes], meta: dict[str, Any]) -> bytes:
    """A snapshot document from tenants already encoded, byte for byte what `snapshot.encode`
    would make of the same document (so a compaction costs one tenant's encoding at a time)."""
    tenants = b",".join(orjson.dumps(key) + b":" + parts[key] for key in sorted(parts))
    head = orjson.dumps({"format": snapshot.FORMAT})[:-1]
    tail = orjson.dumps(meta)[1:]
    return head + b',"tenants":{' + tenants + b"}," + tail
