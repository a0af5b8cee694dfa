"""The merger's `/_sandbox/traffic`, in process: two "shards" (the same in-process sandbox, so
every count comes back twice) added up, and the answers it cannot add passed on, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.cluster import merge

pytestmark = pytest.mark.anyio
DECODA = {"TENANT": "acme", "API-KEY": "k"}


async def merger_over(shard_app: Starlette) -> httpx.AsyncClient:
    shards = merge.Shards(["http://127.0.0.1:8001", "http://127.0.0.1:8002"])
    shards.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=shard_app))
    transport = httpx.ASGITransport(app=merge.app(shards))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


async def test_every_shards_seconds_are_added_up(app: Starlette, client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/billing/charge/list", headers=DECODA)
    await client.get("/billing/charge/get/nope", headers=DECODA)
    async with await merger_over(app) as merger:
        answer = await merger.get("/_sandbox/traffic", params={"minutes": 1})
    assert answer.status_code == 200, answer.text
    seconds: list[dict[str, Any]] = answer.json()["apis"]["decoda"]
    assert sum(s["requests"] for s in seconds) == 8  # each shard's four
    assert sum(s["failures"] for s in seconds) == 2
    assert answer.json()["down"] == []


async def test_what_cannot_be_added_is_passed_on(app: Starlette) -> None:
    async with await merger_over(app) as merger:
        head = await merger.head("/_sandbox/traffic")
        refused = await merger.get("/_sandbox/traffic", params={"minutes": 99})
    assert head.status_code == 200
    assert refused.status_code == 422
    assert refused.json()["error"] == "ValidationFailed"
