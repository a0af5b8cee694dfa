"""A recording, checking proxy in process, in front of an app in process (tests only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette

from billing_sandbox.proxy.app import create_proxy_app


@asynccontextmanager
async def proxied(
    api: str,
    upstream: Starlette | None = None,
    record_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a proxy for `api` in front of `upstream` (an app in process), or of
    whatever `transport` answers."""
    if transport is None:
        assert upstream is not None
        transport = httpx.ASGITransport(app=upstream)
    proxy = create_proxy_app(
        api, "http://upstream.test", record_dir=record_dir, transport=transport
    )
    try:
        to_proxy = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=to_proxy, base_url="http://proxy.test") as client:
            yield client
    finally:
        await proxy.state.proxy.client.aclose()


async def assert_state_round_trips(client: httpx.AsyncClient, tenant: str) -> None:
    """A tenant's snapshot, put back, is accepted and reads back byte for byte."""
    url = f"/_sandbox/tenants/{tenant}/state"
    state = await client.get(url)
    assert state.status_code == 200, state.text
    put = await client.put(url, content=state.content)
    assert put.status_code == 200, put.text
    assert (await client.get(url)).content == state.content
