"""The state file (`--state-file`): loaded at start, saved atomically at shutdown and on request.

A save writes a temporary file in the same directory, fsyncs it, renames it over the state
file and fsyncs the directory: a crash at any point leaves either the last good file or the
new one, never a torn one.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from starlette.applications import Starlette

from billing_sandbox.errors import ApiError, counted
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.state import changes, snapshot
from billing_sandbox.state.durable import (
    META,
    RATE_LIMITS,
    CallReplayer,
    OutboxOf,
    RecoveryFailed,
    WriteAhead,
)
from billing_sandbox.state.problems import InvalidSnapshot

log = logging.getLogger("billing_sandbox")

Writer = Callable[[BinaryIO, bytes], None]

# How often the log is flushed to disk in `every-second` mode (and checked for compaction).
SYNC_EVERY_SECONDS = 1.0
# In a --state-dir without a --state-file, the state file's name.
STATE_FILE_NAME = "state.json"
# The state file's own field beside the snapshot's: the key this server signs tokens with.
SIGNING_SECRET = "signingSecret"  # noqa: S105 (the name of a field, not a secret)


class StateFileError(Exception):
    """The state file cannot be used at start; the command line says why and exits."""


class NoStateFile(ApiError):
    """A save was asked of a server started without a state file."""

    status = 409


class SaveFailed(ApiError):
    """The state file could not be written (the last good one is left as it was)."""

    status = 500


def state_file_of(settings: Settings) -> Path | None:
    """Where the state is kept: `--state-file`, or `state.json` in `--state-dir`."""
    if settings.state_file is not None:
        return settings.state_file
    if settings.state_dir is not None:
        return settings.state_dir / STATE_FILE_NAME
    return None


def load(
    sandbox: Sandbox,
    replay_call: CallReplayer | None = None,
    outbox_of: OutboxOf | None = None,
) -> None:
    """Restore every tenant from the state file, if there is one yet (a first run has none),
    replay the write-ahead log over it, and log every change from here on. `replay_call`
    carries out a logged API call again (the app's: it knows the handlers)."""
    path = state_file_of(sandbox.settings)
    if path is None:
        return
    if not path.parent.is_dir():
        if sandbox.settings.state_file is None:
            path.parent.mkdir(parents=True, exist_ok=True)  # a --state-dir of its own
        else:
            raise StateFileError(f"state file {path}: the directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StateFileError(
            f"state file {path}: the directory {path.parent} cannot be written to, so no change "
            "could be kept; give the sandbox a directory it may write to"
        )
    first_start = not path.exists()
    meta = _load_snapshot(sandbox, path)
    durable = WriteAhead(
        sandbox,
        path,
        sandbox.settings.fsync,
        sandbox.settings.max_log_bytes,
        lambda target, data: write_atomically(target, data, _write_all),
        lambda: _own_fields(sandbox),
    )
    try:
        replayed = durable.recover(
            meta, replay_call or _no_calls, outbox_of or (lambda _api, _store: None)
        )
    except RecoveryFailed as error:
        raise StateFileError(str(error)) from None
    if replayed:
        log.warning("%s: replayed %d changes logged since the last snapshot", path, replayed)
    try:
        # What was replayed goes into a new snapshot at once, and so does a first start's key
        # (the log keeps changes, not the key: a token issued before the first save must
        # still open the API after a kill); else the log goes on.
        if replayed or first_start or durable.old_path.exists():
            durable.compact_now()
        else:
            durable.open(fresh=False)
    except OSError as error:
        raise StateFileError(f"state file {path} cannot be written: {error}") from None
    sandbox.changes = durable
    if sandbox.metrics is not None:
        durable.watch(sandbox.metrics)


def _no_calls(sandbox: Sandbox, record: dict[str, Any]) -> None:
    raise ValueError("this server cannot carry out logged API calls")


def _own_fields(sandbox: Sandbox) -> dict[str, Any]:
    """The state file's fields beyond the snapshot: the server's own signing key (never a
    configured one, and never in an export over the control API)."""
    return {} if sandbox.settings.secret else {SIGNING_SECRET: sandbox.signing_secret}


def _load_snapshot(sandbox: Sandbox, path: Path) -> dict[str, Any]:
    """Restore the snapshot at `path` (if there is one); returns its own fields."""
    # Temporary files of saves a crash interrupted; the state file itself is whole.
    for leftover in path.parent.glob(f"{glob.escape(_temporary_prefix(path))}*.tmp"):
        with suppress(OSError):
            leftover.unlink()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise StateFileError(f"state file {path} cannot be read: {error.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise StateFileError(f"state file {path} is not valid JSON: {error}") from None
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        _adopt_signing_secret(sandbox, data.pop(SIGNING_SECRET, None), path)
        meta = {key: data.pop(key) for key in META if key in data}
    try:
        snapshot.restore_all(sandbox, data)
        for tenant, overrides in meta.get(RATE_LIMITS, {}).items():
            changes.set_limits(sandbox, tenant, overrides)
    except InvalidSnapshot as error:
        raise StateFileError(f"state file {path} cannot be loaded: {error.message}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        problem = f"its rate limits cannot be read: {error}"
        raise StateFileError(f"state file {path}: {problem}") from None
    return meta


def _adopt_signing_secret(sandbox: Sandbox, kept: Any, path: Path) -> None:
    """Sign tokens with the key the file kept, unless a secret is configured (it wins)."""
    if kept is None or sandbox.settings.secret:
        return
    if not isinstance(kept, str) or not 32 <= len(kept) <= 256:
        raise StateFileError(
            f"state file {path}: {SIGNING_SECRET} must be the text the sandbox wrote there "
            "(32 to 256 characters); remove the field to start with a new key"
        )
    sandbox.signing_secret = kept


def save(sandbox: Sandbox, write: Writer | None = None) -> dict[str, Any]:
    """Write every tenant to the state file; returns where, how much and which tenants."""
    path = state_file_of(sandbox.settings)
    durable = sandbox.changes
    if path is None or not isinstance(durable, WriteAhead):
        raise NoStateFile(
            "the sandbox was started without a state file; start it with "
            "`billing-sandbox serve --state-file PATH` (or BILLING_SANDBOX_STATE_FILE)"
        )
    written: list[int] = []

    def write_with(target: Path, data: bytes) -> None:
        write_atomically(target, data, write or _write_all)
        written.append(len(data))

    try:
        document = durable.compact_now(write_with)
    except OSError as error:
        raise SaveFailed(f"could not save the state file {path}: {error}") from None
    return {"saved": str(path), "bytes": written[0], "tenants": sorted(document["tenants"])}


def _write_all(file: BinaryIO, data: bytes) -> None:
    file.write(data)


def write_atomically(path: Path, data: bytes, write: Writer) -> None:
    """Replace `path` with `data` so that readers (and a crash) see the old or the new bytes."""
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file, data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (without this, a power cut may undo it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as error:
        # Some filesystems cannot sync a directory; the rename has happened all the same.
        if error.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def lifespan(sandbox: Sandbox) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Save the state file when the server shuts down (Ctrl+C, SIGTERM), if there is one."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        keeping = asyncio.get_running_loop().create_task(_keep(sandbox))
        try:
            yield
        finally:
            keeping.cancel()
            await asyncio.gather(keeping, return_exceptions=True)
            _save_at_shutdown(sandbox)

    return run


async def _keep(sandbox: Sandbox) -> None:
    """Every second: the log flushed to disk (`--fsync every-second`), and compacted once it
    has grown past its bound."""
    while True:
        await asyncio.sleep(SYNC_EVERY_SECONDS)
        durable = sandbox.changes
        if not isinstance(durable, WriteAhead):
            continue
        try:
            durable.sync()
        except ApiError as error:
            log.error("%s", error.message)
        if durable.due_for_compaction():
            durable.start_compaction()


def _save_at_shutdown(sandbox: Sandbox) -> None:
    """Save the state file (spilled tenants included), then let the spill directory go;
    when the save fails, the spilled tenants stay where they are."""
    if isinstance(sandbox.changes, WriteAhead):
        try:
            saved = save(sandbox)
        except (SaveFailed, ApiError) as error:
            log.error("%s", error.message)
            return
        count = counted(len(saved["tenants"]), "tenant")
        print(f"state saved to {saved['saved']} ({count})", flush=True)
        sandbox.changes.close()
    if sandbox.overflow is not None:
        sandbox.overflow.close()
