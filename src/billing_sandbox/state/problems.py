"""What is wrong with an imported snapshot, and where: its tenant, record, field and path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from billing_sandbox.errors import Unprocessable

# `apis.decoda.charges[3]` → the API and the table a record path names.
_RECORD_PATH = re.compile(r"apis\.(?P<api>[^.\[]+)\.(?P<table>[^.\[]+)\[\d+\]")
# An edited snapshot may hold any text where an id or a key goes: a message quotes a bounded
# prefix of each part, so that a refusal (and its log line) stays short.
_LONGEST_ID = 80
_LONGEST_PATH = 200
_LONGEST_PROBLEM = 500


@dataclass(frozen=True)
class Where:
    """The record a problem is in: its path in the snapshot and its id (None when it has none
    that can be read)."""

    path: str
    record_id: str | None


class InvalidSnapshot(Unprocessable):
    """A snapshot, state file or spill file that cannot be trusted: a 422 from the control API
    (exit status 2 at start), naming the tenant, the kind of record, its id and the field."""

    def __init__(
        self, path: str, problem: str, *, tenant: str | None = None, where: Where | None = None
    ) -> None:
        self.path = path
        self.problem = problem
        self.tenant = tenant
        self.where = where
        super().__init__(self._text())

    def of_tenant(self, tenant: str) -> InvalidSnapshot:
        """The same problem, said to be in `tenant` (unless a tenant is named already)."""
        if self.tenant is not None:
            return self
        return InvalidSnapshot(self.path, self.problem, tenant=tenant, where=self.where)

    def in_record(self, where: Where) -> InvalidSnapshot:
        """The same problem, said to be in that record (the innermost record named wins)."""
        inside = self.path == where.path or self.path.startswith(
            (f"{where.path}.", f"{where.path}[")
        )
        if self.where is not None or not inside:
            return self
        return InvalidSnapshot(self.path, self.problem, tenant=self.tenant, where=where)

    def _text(self) -> str:
        head = "" if self.tenant is None else f"tenant {_short(self.tenant, _LONGEST_ID)!r}: "
        path, problem = _short(self.path, _LONGEST_PATH), _short(self.problem, _LONGEST_PROBLEM)
        return f"{head}invalid snapshot: {self._record()}{path}: {problem}"

    def _record(self) -> str:
        """`decoda charges 'chg_1', field total: `, or nothing outside a record."""
        if self.where is None:
            return ""
        match = _RECORD_PATH.fullmatch(self.where.path)
        kind = f"{match['api']} {match['table']}" if match else self.where.path
        record_id = self.where.record_id
        named = "(no readable id)" if record_id is None else repr(_short(record_id, _LONGEST_ID))
        field = _short(self.path[len(self.where.path) :].lstrip("."), _LONGEST_ID)
        return f"{kind} {named}{f', field {field}' if field else ''}: "


def invalid(path: str, problem: str) -> InvalidSnapshot:
    """The error for one thing wrong in a snapshot, saying where."""
    return InvalidSnapshot(path, problem)


@contextmanager
def about(path: str, record_id: Any) -> Iterator[None]:
    """Problems found inside the block are in the record at `path` with that id."""
    try:
        yield
    except InvalidSnapshot as error:
        raise within(error, path, record_id) from None


def within(error: InvalidSnapshot, path: str, record_id: Any) -> InvalidSnapshot:
    """`error`, said to be in the record at `path` with that id (what `about` does, for loops
    over thousands of records, where a `try` costs nothing and a context manager does)."""
    return error.in_record(Where(path, record_id if isinstance(record_id, str) else None))


def _short(text: str, longest: int) -> str:
    return text if len(text) <= longest else text[: longest - 3] + "..."
