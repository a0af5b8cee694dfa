"""The request journal (`/_sandbox/requests`): query it, page through it, wait for a request."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from billing_sandbox.testing.http import Connection, SandboxError

PAGE_LIMIT = 1000  # the most the sandbox gives in one page
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


class JournalFilters(TypedDict, total=False):
    """What `GET /_sandbox/requests` filters on; each left out matches anything. `since` and
    `until` are on the server's clock (not a tenant's), and timezone-aware."""

    tenant: str
    api: str
    operation_id: str
    status: int  # 0 is a connection a fault rule dropped
    since: datetime
    until: datetime


class JournalTimeout(SandboxError):
    """`Journal.wait_for` saw no matching request in time."""


@dataclass(frozen=True)
class JournalEntry:
    """One vendor request and its answer, as the journal keeps them (bodies may be cut)."""

    seq: int
    time: datetime
    tenant: str | None
    api: str
    operation_id: str
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    request_body: str
    response_body: str
    # The fault the request met, or None; `… after commit: …, answer lost` means the call was
    # carried out (`status`, `response_body` are the sandbox's) and the client never got it.
    fault: str | None = None

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> JournalEntry:
        return cls(
            entry["seq"], datetime.fromisoformat(entry["time"]), entry["tenant"], entry["api"],
            entry["operationId"], entry["method"], entry["path"], entry["query"],
            entry["status"], entry["durationMs"], entry["requestBody"], entry["responseBody"],
            entry.get("fault"),
        )  # fmt: skip

    def request_json(self) -> Any:
        """The request body, parsed (a `ValueError` when it is not JSON, or was cut)."""
        return json.loads(self.request_body)

    def response_json(self) -> Any:
        """The response body, parsed (a `ValueError` when it is not JSON, or was cut)."""
        return json.loads(self.response_body)

    def __str__(self) -> str:
        where = f"{self.method} {self.path} ({self.api} {self.operation_id})"
        return f"#{self.seq} {where} → {self.status}"


@dataclass(frozen=True)
class JournalPage:
    """Entries newest first; pass `next_before` as `before` for the next (older) page."""

    entries: list[JournalEntry]
    next_before: int | None


class Journal:
    """The sandbox's request journal; scoped to a tenant, only that tenant's requests."""

    def __init__(self, connection: Connection, tenant: str | None = None) -> None:
        self._connection = connection
        self.tenant = tenant

    def query(
        self, *, limit: int = 100, before: int | None = None, **filters: Unpack[JournalFilters]
    ) -> JournalPage:
        """One page of matching requests, newest first: `query(api="decoda", status=422)`."""
        params = {**self._params(filters), "limit": limit}
        if before is not None:
            params["before"] = before
        page = self._connection.control("GET", "/requests", params=params)
        return JournalPage(
            [JournalEntry.from_json(e) for e in page["requests"]], page["nextBefore"]
        )

    def entries(self, **filters: Unpack[JournalFilters]) -> Iterator[JournalEntry]:
        """Every matching request the journal holds, newest first, page after page."""
        before: int | None = None
        while True:
            page = self.query(limit=PAGE_LIMIT, before=before, **filters)
            yield from page.entries
            if page.next_before is None:
                return
            before = page.next_before

    def wait_for(
        self,
        predicate: Callable[[JournalEntry], bool] | None = None,
        *,
        timeout: float = WAIT_SECONDS,
        interval: float = POLL_SECONDS,
        **filters: Unpack[JournalFilters],
    ) -> JournalEntry:
        """The newest matching request for which `predicate` holds, asking again every
        `interval` seconds until one is there; `JournalTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            seen: list[JournalEntry] = []
            for entry in self.entries(**filters):
                if predicate is None or predicate(entry):
                    return entry
                seen.append(entry)
            left = deadline - time.monotonic()
            if left <= 0:
                raise JournalTimeout(self._timed_out(timeout, predicate, filters, seen))
            time.sleep(min(interval, left))

    def clear(self) -> int:
        """Forget the journal's entries (the tenant's, when scoped); how many went."""
        params = {} if self.tenant is None else {"tenant": self.tenant}
        cleared: int = self._connection.control("DELETE", "/requests", params=params)["cleared"]
        return cleared

    def _params(self, filters: JournalFilters) -> dict[str, Any]:
        given: dict[str, Any] = dict(filters)
        unknown = set(given) - set(JournalFilters.__annotations__)
        if unknown:
            raise TypeError(f"the journal has no filter {', '.join(sorted(unknown))}")
        if self.tenant is not None:
            given.setdefault("tenant", self.tenant)
            if given["tenant"] != self.tenant:
                raise ValueError(f"the journal of tenant {self.tenant!r} shows that tenant only")
        for key in ("since", "until"):
            if key in given:
                if given[key].tzinfo is None:
                    raise ValueError(f"journal {key}= needs a timezone-aware datetime")
                given[key] = given[key].isoformat()
        if "operation_id" in given:
            given["operationId"] = given.pop("operation_id")
        return given

    def _timed_out(
        self,
        timeout: float,
        predicate: Callable[[JournalEntry], bool] | None,
        filters: JournalFilters,
        seen: list[JournalEntry],
    ) -> str:
        wanted = ", ".join(f"{k}={v!r}" for k, v in self._params(filters).items()) or "any request"
        if predicate is not None:
            wanted += f" for which {getattr(predicate, '__qualname__', predicate)} holds"
        found = "; ".join(map(str, seen[:5])) if seen else "none"
        more = f" (and {len(seen) - 5} more)" if len(seen) > 5 else ""
        return (
            f"no request in the journal of {self._connection.url} matched {wanted} within "
            f"{timeout:g} s; requests that passed the filters: {found}{more}"
        )
