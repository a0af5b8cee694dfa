"""The request journal: the latest vendor-API requests in a bounded ring buffer, newest first."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Entry:
    """One request and its answer, as the journal keeps it."""

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
    # Kept as (cut) bytes and decoded only when read: recording is on every request's path.
    request_body: bytes
    response_body: bytes
    truncated: tuple[int, int] = (0, 0)  # bytes left out of each body
    # How the response broke its spec, each `{operation, field, message}`. Only the validating
    # proxy records any: the sandbox turns such a response into a loud 500 instead.
    violations: tuple[dict[str, str], ...] = ()
    # The fault the request met, if any: `fault after commit: drop, answer lost` says the call
    # was carried out (status and response body are the sandbox's) and its answer lost.
    fault: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "tenant": self.tenant,
            "api": self.api,
            "operationId": self.operation_id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "durationMs": round(self.duration_ms, 3),
            "requestBody": _text(self.request_body, self.truncated[0]),
            "responseBody": _text(self.response_body, self.truncated[1]),
            "violations": [dict(violation) for violation in self.violations],
            "fault": self.fault,
        }


@dataclass(frozen=True)
class Filter:
    """What `GET /_sandbox/requests` asks for; None means "any"."""

    tenant: str | None = None
    api: str | None = None
    operation_id: str | None = None
    status: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None  # a cursor: entries older than this sequence number
    violated: bool | None = None  # only entries with (True) or without (False) violations

    def admits(self, entry: Entry) -> bool:
        return (
            (self.tenant is None or entry.tenant == self.tenant)
            and (self.api is None or entry.api == self.api)
            and (self.operation_id is None or entry.operation_id == self.operation_id)
            and (self.status is None or entry.status == self.status)
            and (self.since is None or entry.time >= self.since)
            and (self.until is None or entry.time <= self.until)
            and (self.before is None or entry.seq < self.before)
            and (self.violated is None or bool(entry.violations) == self.violated)
        )


_TENANT = 2  # where an entry's tenant is in its tuple (the order of `Entry`'s fields)
# How many tenants the count of fallen-out entries names one by one; past it, the rest are
# counted together (and each tenant is told it may have lost that many), so memory stays bounded.
_DROPS_NAMED = 10_000


class Journal:
    """At most `capacity` entries (the oldest fall out), bodies cut at `body_limit` bytes, so
    memory stays bounded however long the server runs."""

    def __init__(self, capacity: int, body_limit: int) -> None:
        # Each entry is kept as the tuple of its `Entry` fields and made an `Entry` when read:
        # recording is on every request's path, reading is rare.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self._body_limit = body_limit
        self._seq = 0
        # Entries that fell out of the ring, by tenant: a recording made from the journal
        # (`control/recording.py`) says when it may miss some of a tenant's writes.
        self._dropped: dict[str | None, int] = {}
        self._dropped_unnamed = 0

    def record(
        self,
        time: float,
        tenant: str | None,
        api: str,
        operation_id: str,
        method: str,
        path: str,
        query: str,
        status: int,
        duration_ms: float,
        request_body: bytes,
        response_body: bytes,
        violations: tuple[dict[str, str], ...] = (),
        fault: str | None = None,
    ) -> None:
        """Keep one request (on every request's path, so it only slices and appends). `time`
        is seconds since the epoch: made a datetime only when the entry is read."""
        self._seq += 1
        entries = self._entries
        if len(entries) == entries.maxlen:  # full: the oldest falls out (this one, at size 0)
            self._count_dropped(entries[0][_TENANT] if entries else tenant)
        limit = self._body_limit
        left_out = (0, 0)
        if len(request_body) > limit or len(response_body) > limit:
            left_out = (max(0, len(request_body) - limit), max(0, len(response_body) - limit))
            request_body, response_body = request_body[:limit], response_body[:limit]
        entries.append(
            (self._seq, time, tenant, api, operation_id, method, path, query, status,
             duration_ms, request_body, response_body, left_out, violations, fault)
        )  # fmt: skip

    def _count_dropped(self, tenant: str | None) -> None:
        if tenant in self._dropped or len(self._dropped) < _DROPS_NAMED:
            self._dropped[tenant] = self._dropped.get(tenant, 0) + 1
        else:
            self._dropped_unnamed += 1

    def dropped(self, tenant: str | None) -> int:
        """How many of the tenant's entries fell out of the ring since it was last cleared (at
        most: past `_DROPS_NAMED` tenants, the others' count is everyone's)."""
        return self._dropped.get(tenant, 0) + self._dropped_unnamed

    def find(self, wanted: Filter, limit: int) -> tuple[list[Entry], int | None]:
        """Newest first; also the cursor for the next (older) page, if there is one."""
        page: list[Entry] = []
        for kept in reversed(self._entries):
            entry = Entry(kept[0], datetime.fromtimestamp(kept[1], UTC), *kept[2:])
            if wanted.admits(entry):
                if len(page) == limit:
                    return page, page[-1].seq
                page.append(entry)
        return page, None

    def after(self, seq: int, limit: int) -> list[Entry]:
        """The entries recorded after sequence number `seq`, oldest first, at most `limit` (the
        oldest of them): what a live view that has seen up to `seq` has not shown yet."""
        newer: list[Entry] = []
        for kept in reversed(self._entries):
            if kept[0] <= seq:
                break
            newer.append(Entry(kept[0], datetime.fromtimestamp(kept[1], UTC), *kept[2:]))
        newer.reverse()
        return newer[:limit]

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest request recorded (0 before the first)."""
        return self._seq

    def clear(self, tenant: str | None = None) -> int:
        """Forget every entry (or one tenant's), and that any fell out: the tenant's record
        starts afresh. Returns how many were forgotten."""
        if tenant is None:
            self._dropped.clear()
            self._dropped_unnamed = 0
        else:
            self._dropped.pop(tenant, None)
        kept = [e for e in self._entries if tenant is not None and e[_TENANT] != tenant]
        forgotten = len(self._entries) - len(kept)
        self._entries = deque(kept, maxlen=self._entries.maxlen)
        return forgotten

    def __len__(self) -> int:
        return len(self._entries)


def _text(body: bytes, left_out: int) -> str:
    """A body as text, with a marker saying how much was cut off."""
    if not left_out:
        return body.decode("utf-8", "replace")
    return f"{body.decode('utf-8', 'ignore')}… [{left_out} more bytes]"
