"""The charge timeline: a bare array, oldest first, one event per thing that happened."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from billing_sandbox.clock import ManualClock
from tests.decoda.helpers import (
    PART_PAID,
    PAYMENT,
    assert_detail,
    creds,
    new_charge,
    settle,
    timeline,
)

pytestmark = pytest.mark.anyio


async def test_fixture_charge_has_its_charge_and_settlement(client: httpx.AsyncClient) -> None:
    events = await timeline(client, charge_id=PART_PAID)
    assert [(e["type"], e["id"], e["amount"]) for e in events] == [
        ("CHARGE", PART_PAID, 6000),
        ("EXTERNAL_SETTLEMENT", PAYMENT, 4000),
    ]
    assert events[1]["paymentMedium"] == "CASH"


async def test_every_kind_of_event_in_order(client: httpx.AsyncClient, clock: ManualClock) -> None:
    made = await new_charge(client, owed=5000, description="Visit")
    clock.advance(timedelta(hours=1))
    await client.post(
        "/billing/adjustment/create",
        json={"chargeId": made["id"], "amount": 1000, "reason": "Late fee"},
        headers=creds(),
    )
    clock.advance(timedelta(hours=1))
    payment = (await settle(client, [made["id"]], 2000)).json()
    clock.advance(timedelta(hours=1))
    await client.post(
        "/billing/payment/refund",
        json={"paymentId": payment["id"], "providerId": "p", "amount": 500, "reason": "DUPLICATE"},
        headers=creds(),
    )
    clock.advance(timedelta(hours=1))
    await client.post(
        "/billing/write-off/create",
        json={"chargeId": made["id"], "reason": "Bad debt"},
        headers=creds(),
    )
    events = await timeline(client, charge_id=made["id"])
    assert [(e["type"], e["amount"]) for e in events] == [
        ("CHARGE", 6000),
        ("ADJUSTMENT", 1000),
        ("EXTERNAL_SETTLEMENT", 2000),
        ("REFUND", 500),
        ("WRITE_OFF", 4000),
    ]
    dates = [e["date"] for e in events]
    assert dates == sorted(dates)
    assert events[0]["description"] == "Visit"
    assert events[0]["status"] == "WRITE_OFF"  # the charge's status now
    assert events[1]["description"] == "Late fee"
    assert events[3]["refundReason"] == "DUPLICATE"


async def test_payment_timeline_covers_every_charge_it_paid(client: httpx.AsyncClient) -> None:
    first, second = await new_charge(client, owed=1000), await new_charge(client, owed=1000)
    payment = (await settle(client, [first["id"], second["id"]], 1500)).json()
    events = await timeline(client, payment_id=payment["id"])
    charges = [e["id"] for e in events if e["type"] == "CHARGE"]
    assert sorted(charges) == sorted([first["id"], second["id"]])
    applied = sorted(e["amount"] for e in events if e["type"] == "EXTERNAL_SETTLEMENT")
    assert applied == [500, 1000]  # the payment's share of each charge


async def test_neither_parameter_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/billing/charge/timeline", headers=creds())
    assert_detail(response, 400, "charge_id or payment_id")


@pytest.mark.parametrize("param", ["charge_id", "payment_id"])
async def test_unknown_id_is_404(client: httpx.AsyncClient, param: str) -> None:
    response = await client.get("/billing/charge/timeline", params={param: "nope"}, headers=creds())
    assert_detail(response, 404, "nope")
