"""The overflow of a sandbox past `--max-tenants`: tenants with writes, one snapshot file each.

A spilled tenant is written atomically (see `persistence.write_atomically`) before it leaves
memory, so a crash between the two loses nothing, and it is loaded back on its next request
as a snapshot is restored: it answers, and exports, byte for byte as before. The directory is
an extension of memory, not a store of its own: it is emptied when the server starts (a
state file, which includes spilled tenants, is what outlives a restart).
"""

from __future__ import annotations

import hashlib
import shutil
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

from billing_sandbox.errors import BadRequest, SandboxBug
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.state import snapshot
from billing_sandbox.state.persistence import write_atomically
from billing_sandbox.state.problems import InvalidSnapshot
from billing_sandbox.tenants.tenant import Tenant

SUFFIX = ".tenant.json"
# File names stay well under the usual 255-byte limit; longer ids are named by their hash.
_LONGEST_NAME = 200
# Before a tenant's hex: no name starts with a dot (a half-written file's mark), and none is a
# name Windows reserves (`CON`, `NUL.tenant.json`, `COM1` …), all of which are letters only.
_PREFIX = "t-"


class SpillUnreadable(SandboxBug):
    """A spilled tenant's file is missing or broken: that tenant answers this, others work."""


class SpillDirectory:
    """Spills tenants to `directory` (created on first use) and loads them back."""

    def __init__(self, directory: Path, sandbox: Sandbox, remove_when_done: bool = False):
        self.directory = directory
        self._sandbox = sandbox
        # The default directory is the server's own: it goes when the server stops.
        self.remove_when_done = remove_when_done
        self._files: dict[str, Path] = {}
        self._clear_leftovers()

    def spill(self, tenant: Tenant) -> None:
        data = snapshot.encode(snapshot.export_tenant(self._sandbox, tenant))
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / _file_name(tenant.id)
        write_atomically(path, data, _write_all)
        self._files[tenant.id] = path

    def reload(self, tenant_id: str) -> Tenant | None:
        path = self._files.get(tenant_id)
        if path is None:
            return None
        try:
            data = self.read(tenant_id)
            tenant = snapshot.build_tenant(self._sandbox, tenant_id, data)
        except InvalidSnapshot as error:
            raise self._unreadable(tenant_id, path, error.message) from None
        tenant.written = True
        return tenant

    def read(self, tenant_id: str) -> Any:
        """The spilled tenant's snapshot, as the control API exports it."""
        path = self._files[tenant_id]
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise self._unreadable(tenant_id, path, error.strerror or str(error)) from None
        try:
            return snapshot.decode(raw)
        except BadRequest as error:
            raise self._unreadable(tenant_id, path, error.message) from None

    def forget(self, tenant_id: str | None = None) -> None:
        for key in list(self._files) if tenant_id is None else [tenant_id]:
            path = self._files.pop(key, None)
            if path is not None:
                with suppress(FileNotFoundError):
                    path.unlink()

    def spilled(self) -> list[str]:
        return list(self._files)

    def close(self) -> None:
        """At shutdown: remove the server's own directory (a chosen one keeps its place)."""
        if self.remove_when_done:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _clear_leftovers(self) -> None:
        """Spill files of an earlier run (and a crash's half-written ones) are not this
        server's tenants: without a state file, a restart starts every tenant anew."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name.endswith(SUFFIX) or (
                path.name.startswith(".") and ".tenant." in path.name
            ):
                with suppress(OSError):
                    path.unlink()

    def _unreadable(self, tenant_id: str, path: Path, problem: str) -> SpillUnreadable:
        return SpillUnreadable(
            f"tenant {tenant_id!r} was spilled to {path} and cannot be loaded back: {problem}. "
            f"Other tenants are not affected; POST /_sandbox/tenants/{tenant_id}/reset starts "
            "this one anew from its seed"
        )


def _write_all(file: BinaryIO, data: bytes) -> None:
    file.write(data)


def _file_name(tenant_id: str) -> str:
    """A file name that gives the id back (its bytes in hex), or its hash when that would be
    long. Lower-case hex only: ids that differ only in case (`Acme`, `acme`) never share a
    file on a filesystem that ignores case (macOS, Windows), as base64's letters would; and
    hex holds no separator, dot-dot or reserved name."""
    raw = tenant_id.encode("utf-8", "surrogatepass")
    name = _PREFIX + raw.hex()
    if len(name) + len(SUFFIX) > _LONGEST_NAME:
        name = "sha256-" + hashlib.sha256(raw).hexdigest()
    return name + SUFFIX
