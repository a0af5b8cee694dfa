"""A statement read by id is never stale: each write, and a restored snapshot, shows at once."""

from __future__ import annotations

import httpx
import pytest

from tests.mycure.helpers import DRAFT, ORG, bearer

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
