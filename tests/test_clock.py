"""Per-tenant clocks: freeze and advance time; installments fall due as the clock moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from billing_sandbox.clock import ManualClock, SystemClock, TenantClock
from tests.candid.helpers import WRITE_OFFS, auth
from tests.decoda.helpers import charge, creds, new_charge
from tests.decoda.test_money import plan
from tests.mycure.helpers import bearer, create

pytestmark = pytest.mark.anyio
FROZEN = "2030-05-01T09:30:00+00:00"


async def set_clock(client: httpx.AsyncClient, tenant: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/_sandbox/tenants/{tenant}/clock", json=body)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def timeline(client: httpx.AsyncClient, charge_id: str) -> list[Any]:
    response = await client.get(f"/billing/charge/timeline?charge_id={charge_id}", headers=creds())
    found: list[Any] = response.json()
    return found


async def test_a_frozen_clock_stamps_every_write(client: httpx.AsyncClient) -> None:
    state = await set_clock(client, "clinic-a.test", freezeAt=FROZEN)
    assert (state["now"], state["frozen"]) == (FROZEN, True)
    soa = await create(client, await bearer(client))
    assert soa["createdAt"] == int(datetime.fromisoformat(FROZEN).timestamp() * 1000)


async def test_advancing_moves_one_tenant_only(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await set_clock(client, "acme", advanceSeconds=86_400)
    made = await new_charge(client, tenant="acme")
    other = await new_charge(client, tenant="globex")
    assert made["createdDate"].startswith((clock.now() + timedelta(days=1)).date().isoformat())
    assert other["createdDate"].startswith(clock.now().date().isoformat())
    got = await client.get("/_sandbox/tenants/globex/clock")
    assert got.json()["now"] == clock.now().isoformat()


async def test_resume_runs_on_from_the_frozen_instant(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await set_clock(client, "acme", freezeAt=FROZEN)
    clock.advance(timedelta(minutes=5))  # the server's time passes; a frozen tenant's does not
    assert (await client.get("/_sandbox/tenants/acme/clock")).json()["now"] == FROZEN
    await set_clock(client, "acme", resume=True)
    clock.advance(timedelta(minutes=1))
    now = (await client.get("/_sandbox/tenants/acme/clock")).json()
    assert now["now"] == "2030-05-01T09:31:00+00:00" and now["frozen"] is False


def installments(events: list[Any]) -> list[tuple[str, str]]:
    return [(e["id"], e["status"]) for e in events if e["type"] == "SCHEDULED_PAYMENT"]


async def test_installments_settle_as_time_passes(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=10_000)
    assert (await plan(client, [made["id"]])).status_code == 200  # 4000 monthly from today
    [first, second, third] = [i for i, _ in installments(await timeline(client, made["id"]))]
    settled = await set_clock(client, "acme", advanceSeconds=32 * 86_400)
    assert {first, second} <= set(settled["settledInstallments"])
    assert third not in settled["settledInstallments"]
    after = await charge(client, made["id"])
    assert (after["totalOutstanding"], after["status"]) == (2_000, "PAYMENT_PLAN")
    events = await timeline(client, made["id"])
    assert installments(events) == [(first, "COMPLETED"), (second, "COMPLETED"),
                                     (third, "SCHEDULED")]  # fmt: skip
    assert sum(e["amount"] for e in events if e["type"] == "PAYMENT") == 8_000
    await set_clock(client, "acme", advanceSeconds=31 * 86_400)
    assert (await charge(client, made["id"]))["status"] == "PAID"


async def test_a_fault_rule_makes_an_installment_fail(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=10_000)
    assert (await plan(client, [made["id"]])).status_code == 200
    [first, second, third] = [i for i, _ in installments(await timeline(client, made["id"]))]
    rule = {"match": {"operationId": "settleInstallment", "path": f"/installments/{first}"},
            "effect": {"status": 402}}  # fmt: skip
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    await set_clock(client, "acme", advanceSeconds=32 * 86_400)
    events = await timeline(client, made["id"])
    assert installments(events) == [(first, "FAILED"), (second, "COMPLETED"),
                                    (third, "SCHEDULED")]  # fmt: skip
    assert (await charge(client, made["id"]))["totalOutstanding"] == 6_000


@pytest.mark.parametrize(
    "body", [{}, {"advanceSeconds": -5}, {"freezeAt": "tomorrow"}, {"resume": False},
             {"advanceSeconds": 5, "resume": True}]
)  # fmt: skip
async def test_a_bad_clock_change_is_422_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    before = (await client.get("/_sandbox/tenants/acme/clock")).json()
    response = await client.post("/_sandbox/tenants/acme/clock", json=body)
    assert response.status_code == 422
    assert (await client.get("/_sandbox/tenants/acme/clock")).json() == before


async def test_advancing_a_tenants_clock_expires_its_tokens(client: httpx.AsyncClient) -> None:
    candid = await auth(client, "acme")
    mycure = await bearer(client, "ana@clinic-a.test")
    await set_clock(client, "acme", advanceSeconds=5 * 3600 + 1)  # Candid tokens live 5 h
    await set_clock(client, "clinic-a.test", advanceSeconds=86_401)  # MYCURE's 1 day
    expired = await client.get(WRITE_OFFS, headers=candid)
    assert expired.status_code == 401 and "expired" in expired.text
    assert (await client.get("/billing-soas", headers=mycure)).status_code == 401
    other = await auth(client, "globex")  # another tenant's time has not moved
    assert (await client.get(WRITE_OFFS, headers=other)).status_code == 200


def test_a_tenant_clocks_timestamp_is_its_now_as_a_number() -> None:
    base = ManualClock(datetime(2026, 12, 3, 12, 0, 0, 250_000, tzinfo=UTC))
    clock = TenantClock(base)
    assert clock.timestamp() == clock.now().timestamp()
    clock.advance(timedelta(days=3, seconds=7))
    assert clock.timestamp() == clock.now().timestamp()
    clock.freeze(datetime(2027, 1, 1, tzinfo=UTC))
    base.advance(timedelta(hours=1))
    assert (
        clock.timestamp() == clock.now().timestamp() == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    )
    clock.resume()
    base.advance(timedelta(seconds=30))
    assert clock.timestamp() == clock.now().timestamp()
    running = TenantClock(SystemClock())
    assert abs(running.timestamp() - running.now().timestamp()) < 1
