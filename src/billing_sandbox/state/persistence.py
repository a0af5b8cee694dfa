"""The state file (`--state-file`): loaded at start, saved atomically at shutdown and on request.

A save writes a temporary file in the same directory, fsyncs it, renames it over the state
file and fsyncs the directory: a crash at any point leaves either the last good file or the
new one, never a torn one.
"""

from __future__ import annotations

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

from billing_sandbox.errors import ApiError
from billing_sandbox.state import snapshot
from billing_sandbox.state.problems import InvalidSnapshot
from billing_sandbox.tenancy import Sandbox

log = logging.getLogger("billing_sandbox")

Writer = Callable[[BinaryIO, bytes], None]

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


def load(sandbox: Sandbox) -> None:
    """Restore every tenant from the state file, if there is one yet (a first run has none)."""
    path = sandbox.settings.state_file
    if path is None:
        return
    if not path.parent.is_dir():
        raise StateFileError(f"state file {path}: the directory {path.parent} does not exist")
    # Temporary files of saves a crash interrupted; the state file itself is whole.
    for leftover in path.parent.glob(f"{glob.escape(_temporary_prefix(path))}*.tmp"):
        with suppress(OSError):
            leftover.unlink()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as error:
        raise StateFileError(f"state file {path} cannot be read: {error.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise StateFileError(f"state file {path} is not valid JSON: {error}") from None
    if isinstance(data, dict):
        _adopt_signing_secret(sandbox, data.pop(SIGNING_SECRET, None), path)
    try:
        snapshot.restore_all(sandbox, data)
    except InvalidSnapshot as error:
        raise StateFileError(f"state file {path} cannot be loaded: {error.message}") from None


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
    path = sandbox.settings.state_file
    if path is None:
        raise NoStateFile(
            "the sandbox was started without a state file; start it with "
            "`billing-sandbox serve --state-file PATH` (or BILLING_SANDBOX_STATE_FILE)"
        )
    document = snapshot.export_all(sandbox)
    if not sandbox.settings.secret:
        # The server's own key, so that the tokens it issued still open the API after a
        # restart. (Exports over the control API never carry it.)
        document[SIGNING_SECRET] = sandbox.signing_secret
    data = snapshot.encode(document)
    try:
        write_atomically(path, data, write or _write_all)
    except OSError as error:
        raise SaveFailed(f"could not save the state file {path}: {error}") from None
    return {"saved": str(path), "bytes": len(data), "tenants": sorted(document["tenants"])}


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


def _write_all(file: BinaryIO, data: bytes) -> None:
    file.write(data)


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
        try:
            yield
        finally:
            _save_at_shutdown(sandbox)

    return run


def _save_at_shutdown(sandbox: Sandbox) -> None:
    """Save the state file (spilled tenants included), then let the spill directory go;
    when the save fails, the spilled tenants stay where they are."""
    if sandbox.settings.state_file is not None:
        try:
            saved = save(sandbox)
        except (SaveFailed, ApiError) as error:
            log.error("%s", error.message)
            return
        count = len(saved["tenants"])
        print(f"state saved to {saved['saved']} ({count} tenants)", flush=True)
    if sandbox.overflow is not None:
        sandbox.overflow.close()
