"""Control operations that show the sandbox's inside (the dashboard reads them): the tenants
held, a tenant's records as its APIs serve them, and the request journal as it grows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection
from itertools import islice
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from billing_sandbox.api import Call
from billing_sandbox.errors import NotFound
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.tenants.tenant import Served, StoreKind, Tenant

# How often a stream looks for new entries: recording stays a plain append on every
# request's path, and a person watching sees a request within a quarter of a second.
_POLL_SECONDS = 0.25
_BATCH = 200  # entries sent per look, at most (a burst is sent over a few looks)


async def list_tenants(call: Call[None]) -> dict[str, Any]:
    sandbox = call.sandbox
    sockets: dict[str, int] = {}
    for mounted in sandbox.mounted.values():
        for tenant_id, count in mounted.connected().items():
            sockets[tenant_id] = sockets.get(tenant_id, 0) + count
    held = [
        _summary(tenant, sandbox, sockets.get(tenant.id, 0))
        for tenant in sandbox.tenants().values()
    ]
    spilled: list[dict[str, Any]] = [
        {"id": tenant_id, "written": True, "spilled": True, "clock": None, "apis": {},
         "sockets": sockets.get(tenant_id, 0)}
        for tenant_id in sandbox.spilled()
    ]  # fmt: skip
    return {
        "maxTenants": sandbox.settings.max_tenants,
        "tenants": held + spilled,
        "sockets": sockets,
    }


def _summary(tenant: Tenant, sandbox: Sandbox, sockets: int) -> dict[str, Any]:
    """A tenant in memory: counts of the stores it has built only (listing seeds nothing)."""
    apis = {
        name: {
            kind: len(served.records)
            for kind, served in _served(sandbox.kinds[name], store).items()
        }
        for name, store in tenant.built_stores().items()
    }
    clock = {
        "now": tenant.clock.now().isoformat(),
        "frozen": tenant.clock.frozen_at is not None,
        # How far from the server's own time, so that a person reads "+3 days", not an instant.
        "offsetSeconds": round(tenant.clock.ahead().total_seconds(), 3),
    }
    return {"id": tenant.id, "written": tenant.written, "spilled": False, "clock": clock,
            "apis": apis, "sockets": sockets}  # fmt: skip


def _served(kind: StoreKind, store: Any) -> dict[str, Served]:
    served = kind.served_records
    return {} if served is None else dict(served(store))


async def list_tenant_records(call: Call[None]) -> dict[str, Any]:
    tenant_id, api = call.path["tenant"], call.path["api"]
    tenant = call.sandbox.tenant(tenant_id)
    kind = call.sandbox.kinds[api]
    by_kind = _served(kind, tenant.store(api))
    query = call.query
    wanted = query.get("kind") or next(iter(by_kind), "")
    if wanted not in by_kind:
        raise NotFound(f"{api} record kind", wanted)
    served = by_kind[wanted]
    kept, render = _in_order(served, query.get("order", "kept")), served.render
    start, stop = query["offset"], query["offset"] + query["limit"]
    text = query.get("q")
    if text:
        # A search reads every record of the kind as served; a page alone renders its own.
        needle = text.casefold()
        found = [r for r in map(render, kept) if needle in orjson.dumps(r).decode().casefold()]
        total, page = len(found), found[start:stop]
    else:
        total, page = len(kept), [render(r) for r in islice(kept, start, stop)]
    return {
        "tenant": tenant_id,
        "api": api,
        "kind": wanted,
        "kinds": {name: len(served.records) for name, served in by_kind.items()},
        "total": total,
        "records": page,
    }


def _in_order(served: Served, order: str) -> Collection[Any]:
    """The records in the order asked for: the store's own (`kept`), or `newest` first, by when
    each was made, the later made first among equals (the store's order reversed, where the
    records do not say when they were made)."""
    if order != "newest":
        return served.records
    latest_first = list(served.records)[::-1]
    if served.made is None:
        return latest_first
    # Stable, even reversed: records made at the same instant stay latest first.
    return sorted(latest_first, key=served.made, reverse=True)


async def stream_requests(call: Call[None]) -> StreamingResponse:
    journal = call.sandbox.journal
    resume = call.headers.get("Last-Event-ID")
    after = call.query.get("after")
    if resume is not None and resume.strip().isdigit():
        after = int(resume)
    start = journal.last_seq if after is None else after
    if start > journal.last_seq:
        start = 0  # an id from before a restart: every entry of this server's journal is new
    ends = time.monotonic() + call.query["seconds"]
    return StreamingResponse(
        _events(call.sandbox, start, ends),
        media_type="text/event-stream",
        # No proxy or browser may hold the events back.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(sandbox: Sandbox, seen: int, ends: float) -> AsyncIterator[bytes]:
    """`retry` first (how soon a browser reconnects), then each new entry; a comment now and
    then keeps an idle connection open through proxies. Ends at `ends` or when the server
    stops."""
    yield b"retry: 1000\n\n"
    quiet_since = time.monotonic()
    while True:
        # What is already recorded is sent before the stream ends, however it ends.
        entries = sandbox.journal.after(seen, _BATCH)
        if entries:
            chunk = b"".join(
                b"id: %d\nevent: request\ndata: %s\n\n" % (e.seq, orjson.dumps(e.as_json()))
                for e in entries
            )
            seen = entries[-1].seq
            quiet_since = time.monotonic()
            yield chunk
        elif time.monotonic() - quiet_since > 15:
            quiet_since = time.monotonic()
            yield b": still here\n\n"
        if time.monotonic() >= ends or sandbox.stopping():
            return
        await asyncio.sleep(_POLL_SECONDS)
