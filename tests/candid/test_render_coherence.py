"""A page of write-offs is never stale: after each Candid write (every one the spec has), and
each control call that changes records, the page is byte for byte what a fresh render of the
store gives, and what a page built without kept renderings gives."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from billing_sandbox.apis.candid.store import CandidStore, WriteOffQuery
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import load_spec
from tests.candid.helpers import (
    ADJUSTMENT,
    ERA_ADJUSTMENT,
    SERVICE_LINE,
    WRITE_OFFS,
    auth,
    patient_item,
)

pytestmark = pytest.mark.anyio
# The spec's writes this test makes (each step below names its operation).
EXERCISED = {"createWriteOffs", "revertWriteOff", "revertEraOriginatedInsuranceBalanceAdjustment"}
QUERIES: list[dict[str, Any]] = [
    {"limit": 100},
    {"limit": 7, "sort": "amount_cents", "sort_direction": "asc"},
    {"limit": 5, "account_types": "INSURANCE"},
    {"limit": 100, "service_line_id": SERVICE_LINE},  # holds the write-offs made below
]


def _store(app: Starlette) -> CandidStore:
    found: CandidStore = app.state.sandbox.tenant("acme").store("candid")
    return found


async def _pages_match_a_fresh_render(
    client: httpx.AsyncClient, app: Starlette, headers: dict[str, str]
) -> None:
    for query in QUERIES:
        served = await client.get(WRITE_OFFS, params=query, headers=headers)
        assert served.status_code == 200, served.text
        again = await client.get(WRITE_OFFS, params=query, headers=headers)  # from kept bytes
        typed = {**query, "account_types": tuple(filter(None, [query.get("account_types")]))}
        fresh = _store(app).list_write_offs(WriteOffQuery(**typed))
        assert served.content == again.content == orjson.dumps(fresh)
        for write_off in fresh["items"][:3]:  # by id: the same kept bytes, as fresh
            one = await client.get(f"{WRITE_OFFS}/{write_off['write_off_id']}", headers=headers)
            assert one.content == orjson.dumps(write_off), one.text


async def test_each_write_shows_at_once_in_every_page(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    headers = await auth(client)
    await _pages_match_a_fresh_render(client, app, headers)  # fills the kept renderings
    saved = (await client.get("/_sandbox/tenants/acme/state")).json()

    made = await client.post(  # createWriteOffs
        WRITE_OFFS, json={"write_offs": [patient_item(amount_cents=1)]}, headers=headers
    )
    assert made.status_code == 200, made.text
    await _pages_match_a_fresh_render(client, app, headers)

    new_id = made.json()["write_offs"][0]["write_off_id"]
    reverted = await client.post(f"{WRITE_OFFS}/{new_id}/revert", headers=headers)  # revertWriteOff
    assert reverted.status_code == 200, reverted.text
    await _pages_match_a_fresh_render(client, app, headers)

    offset = await client.post(f"{WRITE_OFFS}/{ADJUSTMENT}/revert", headers=headers)
    assert offset.status_code == 200, offset.text
    await _pages_match_a_fresh_render(client, app, headers)

    era = f"{WRITE_OFFS}/{ERA_ADJUSTMENT}/revert-era-originated"
    assert (await client.post(era, headers=headers)).status_code == 200
    await _pages_match_a_fresh_render(client, app, headers)

    refused = await client.post(f"{WRITE_OFFS}/{new_id}/revert", headers=headers)
    assert refused.status_code == 422
    await _pages_match_a_fresh_render(client, app, headers)

    restored = await client.put("/_sandbox/tenants/acme/state", json=saved)
    assert restored.status_code < 300, restored.text
    await _pages_match_a_fresh_render(client, app, headers)
    assert new_id not in (await client.get(WRITE_OFFS, params={"limit": 100}, headers=headers)).text

    assert (await client.post("/_sandbox/tenants/acme/reset")).status_code < 300
    await _pages_match_a_fresh_render(client, app, headers)


def test_every_candid_write_is_exercised() -> None:
    """A write added to the spec must join the test above."""
    spec = load_spec(Settings().specs_dir / "candid-write-offs.yaml")
    writes = {op.operation_id for op in spec.operations if op.changes_state}
    assert writes - {"getToken"} == EXERCISED
