"""Tenants: isolation by client id, what the seed holds, resets."""

from __future__ import annotations

import httpx
import pytest

from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.app import create_app
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from tests.candid.helpers import CURATED_WRITE_OFF, WRITE_OFFS, auth, patient_item, walk


def seeded(settings: Settings, tenant: str) -> CandidStore:
    sandbox: Sandbox = create_app(settings).state.sandbox
    store: CandidStore = sandbox.tenant(tenant).store("candid")
    return store


def test_seed_has_about_200_write_offs_over_all_variants() -> None:
    store = seeded(Settings(), "acme")
    write_offs = store.all_write_offs()
    assert len(write_offs) == 200
    assert {w["type"] for w in write_offs} == {"patient", "insurance", "non_insurance_payer"}
    assert any("reverts_write_off_id" in w for w in write_offs)
    adjustments = store.reference.as_json()["insurance_balance_adjustments"]
    assert {a["era_originated"] for a in adjustments} == {True, False}


def test_records_setting_scales_the_seed() -> None:
    assert len(seeded(Settings(records=1000), "acme").all_write_offs()) == 1000


@pytest.mark.anyio
async def test_one_clients_writes_are_invisible_to_another(client: httpx.AsyncClient) -> None:
    acme, globex = await auth(client, "acme"), await auth(client, "globex")
    made = await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=acme)
    new_id = made.json()["write_offs"][0]["write_off_id"]
    assert (await client.get(f"{WRITE_OFFS}/{new_id}", headers=acme)).status_code == 200
    assert (await client.get(f"{WRITE_OFFS}/{new_id}", headers=globex)).status_code == 404
    await client.post(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert", headers=acme)
    curated = (await client.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=globex)).json()
    assert "reverted_by_write_off_id" not in curated
    assert new_id not in {w["write_off_id"] for w in await walk(client, globex, limit=999)}


@pytest.mark.anyio
async def test_tenant_reset_reseeds_identically(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    pristine = await walk(client, headers, limit=999)
    await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=headers)
    await client.post(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert", headers=headers)
    assert await walk(client, headers, limit=999) != pristine
    response = await client.post("/_sandbox/tenants/acme/reset")
    assert response.json() == {"reset": "acme"}
    assert await walk(client, headers, limit=999) == pristine


@pytest.mark.anyio
async def test_reset_all_reseeds_every_tenant(client: httpx.AsyncClient) -> None:
    acme, globex = await auth(client, "acme"), await auth(client, "globex")
    pristine = [await walk(client, h, limit=999) for h in (acme, globex)]
    for h in (acme, globex):
        await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=h)
    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert [await walk(client, h, limit=999) for h in (acme, globex)] == pristine


@pytest.mark.anyio
async def test_reset_of_one_tenant_leaves_others(client: httpx.AsyncClient) -> None:
    acme, globex = await auth(client, "acme"), await auth(client, "globex")
    made = await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=globex)
    kept = made.json()["write_offs"][0]["write_off_id"]
    await client.post("/_sandbox/tenants/acme/reset")
    assert (await client.get(f"{WRITE_OFFS}/{kept}", headers=globex)).status_code == 200
    assert (await client.get(WRITE_OFFS, headers=acme)).status_code == 200
