"""A statement read by id, or found, is never stale: each write, and a restored snapshot, shows
at once."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from billing_sandbox.apis.mycure.store import FindLimits, MycureStore
from tests.mycure.helpers import DRAFT, FACILITY, HMO, ORG, bearer

pytestmark = pytest.mark.anyio


async def test_a_statement_read_after_each_write_is_as_written(client: httpx.AsyncClient) -> None:
    auth = await bearer(client)
    path = f"/billing-soas/{DRAFT}"
    first = (await client.get(path, headers=auth)).json()  # kept for the next reads
    assert (await client.get(path, headers=auth)).json() == first
    saved = (await client.get(f"/_sandbox/tenants/{ORG}/state")).json()
    patched = await client.patch(path, json={"paymentTerms": 45}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert (await client.get(path, headers=auth)).json() == patched.json()
    finalized = (await client.patch(path, json={"finalize": True}, headers=auth)).json()
    assert (await client.get(path, headers=auth)).json()["finalizedAt"] == finalized["finalizedAt"]
    refused = await client.patch(path, json={"paymentTerms": 60}, headers=auth)
    assert refused.status_code == 400
    assert (await client.get(path, headers=auth)).json() == finalized
    restored = await client.put(f"/_sandbox/tenants/{ORG}/state", json=saved)
    assert restored.status_code < 300, restored.text
    assert (await client.get(path, headers=auth)).json() == first
    await client.patch(path, json={"finalize": True}, headers=auth)
    assert (await client.delete(path, headers=auth)).status_code == 200
    assert (await client.get(path, headers=auth)).status_code == 404


FINDS = ["$limit=100", "type=organization&$sort[createdAt]=-1&$limit=100", "$sort[id]=1&$limit=3"]


async def _finds_match_a_fresh_render(
    client: httpx.AsyncClient, app: Starlette, auth: dict[str, str]
) -> None:
    store: MycureStore = app.state.sandbox.tenant(ORG).store("mycure")
    limits = FindLimits(100, 100)
    for query in FINDS:
        served = await client.get(f"/billing-soas?{query}", headers=auth)
        again = await client.get(f"/billing-soas?{query}", headers=auth)  # from kept bytes
        assert served.status_code == 200, served.text
        fresh = store.find(query, limits).data
        assert served.content == again.content == orjson.dumps(fresh)


async def test_a_find_after_each_write_is_as_written(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    auth = await bearer(client)
    path = f"/billing-soas/{DRAFT}"
    await _finds_match_a_fresh_render(client, app, auth)
    saved = (await client.get(f"/_sandbox/tenants/{ORG}/state")).json()
    assert (await client.patch(path, json={"paymentTerms": 45}, headers=auth)).status_code == 200
    await _finds_match_a_fresh_render(client, app, auth)
    assert (await client.patch(path, json={"finalize": True}, headers=auth)).status_code == 200
    await _finds_match_a_fresh_render(client, app, auth)
    statement = {"facility": FACILITY, "type": "organization", "customer": HMO}
    assert (await client.post("/billing-soas", json=statement, headers=auth)).status_code == 201
    await _finds_match_a_fresh_render(client, app, auth)
    assert (await client.delete(path, headers=auth)).status_code == 200
    await _finds_match_a_fresh_render(client, app, auth)
    restored = await client.put(f"/_sandbox/tenants/{ORG}/state", json=saved)
    assert restored.status_code < 300, restored.text
    await _finds_match_a_fresh_render(client, app, auth)
