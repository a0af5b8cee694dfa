"""MYCURE organisations as tenants, the find settings, and deterministic seed data."""

from __future__ import annotations

import httpx
import pytest

from billing_sandbox.apis.mycure.store import MycureStore
from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings
from tests.mycure.helpers import DRAFT, ORG, assert_feathers, bearer, create

pytestmark = pytest.mark.anyio


async def test_colleagues_share_records_and_other_organisations_see_none(
    client: httpx.AsyncClient,
) -> None:
    ana, ben, cy = (
        await bearer(client, f"ana@{ORG}"),
        await bearer(client, f"ben@{ORG}"),
        await bearer(client, "cy@clinic-b.test"),
    )
    soa = await create(client, ana, note="ana's")
    assert (await client.get(f"/billing-soas/{soa['id']}", headers=ben)).json() == soa
    assert_feathers(await client.get(f"/billing-soas/{soa['id']}", headers=cy), 404, "NotFound")
    assert_feathers(
        await client.patch(f"/billing-soas/{soa['id']}", json={"note": "cy's"}, headers=cy),
        404,
        "NotFound",
    )
    seen_by_cy = (await client.get("/billing-soas?$limit=1000", headers=cy)).json()
    assert soa["id"] not in {r["id"] for r in seen_by_cy}
    assert "ana's" not in {r.get("note") for r in seen_by_cy}
    assert (await client.get(f"/billing-soas/{soa['id']}", headers=ana)).json() == soa


async def test_a_change_in_one_organisation_leaves_the_other_untouched(
    client: httpx.AsyncClient,
) -> None:
    ana, cy = await bearer(client, f"ana@{ORG}"), await bearer(client, "cy@clinic-b.test")
    before = (await client.get(f"/billing-soas/{DRAFT}", headers=cy)).json()
    patched = await client.patch(f"/billing-soas/{DRAFT}", json={"note": "ana"}, headers=ana)
    assert patched.status_code == 200
    assert (await client.get(f"/billing-soas/{DRAFT}", headers=cy)).json() == before


@pytest.mark.parametrize("settings", [Settings(mycure_paginate=True)])
async def test_paginate_setting_answers_feathers_page_objects(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    page = (await client.get("/billing-soas?$limit=3&$skip=1", headers=headers)).json()
    assert set(page) == {"total", "limit", "skip", "data"}
    assert (page["limit"], page["skip"], len(page["data"])) == (3, 1, 3)
    count = (await client.get("/billing-soas?$limit=0", headers=headers)).json()
    assert count["data"] == [] and count["total"] == page["total"] > 3


@pytest.mark.parametrize(
    "settings", [Settings(mycure_default_limit=3, mycure_max_limit=5, mycure_paginate=True)]
)
async def test_limit_default_and_maximum_are_settings(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    default = (await client.get("/billing-soas", headers=headers)).json()
    clamped = (await client.get("/billing-soas?$limit=%23500", headers=headers)).json()
    assert (default["limit"], len(default["data"])) == (3, 3)
    assert (clamped["limit"], len(clamped["data"])) == (5, 5)


async def test_the_bare_array_is_the_default(client: httpx.AsyncClient) -> None:
    found = (await client.get("/billing-soas?$limit=0", headers=await bearer(client))).json()
    assert found == []


def test_seed_has_drafts_and_finalized_soas_of_both_types() -> None:
    store: MycureStore = create_app().state.sandbox.tenant(ORG).store("mycure")
    kinds = {(soa["type"], "finalizedAt" in soa) for soa in store.soas.values()}
    assert kinds == {(t, f) for t in ("organization", "insurance-contract") for f in (True, False)}
    known = store.reference
    for soa in store.soas.values():
        assert soa["facility"] in known.facilities
        customers = known.organizations if soa["type"] == "organization" else known.contracts
        assert soa["customer"] in customers
        assert set(soa.get("invoices", [])) <= set(known.invoices)
        assert set(soa.get("invoiceItems", [])) <= set(known.invoice_items)
        assert soa["createdBy"] in store.accounts
