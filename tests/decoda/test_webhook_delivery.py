"""Events and their signed delivery: register → act through the API → receive → verify →
list attempts; retries on the tenant's clock; subscriptions, archive, tenants, re-send."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette

from tests.decoda.helpers import CHARGE, PATIENT, SETTLE, creds, new_charge
from tests.decoda.hooks import (
    FROZEN,
    HOOKS,
    attempts,
    clock,
    new_patient,
    register,
    settled,
    verified,
)
from tests.support.receiver import receiver

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
async def courier_closed(app: Starlette) -> AsyncIterator[None]:
    """The in-process app runs no lifespan: close the courier's HTTP client here."""
    yield
    await app.state.courier.close()


async def test_an_event_arrives_signed_and_its_attempt_is_listed(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    with receiver() as hook:
        webhook = await register(client, hook.url, ["PATIENT_CREATED"])
        patient = await new_patient(client)
        await settled(app)
        [got] = hook.wait_for(1)
    envelope = verified(got, webhook["secret"])
    assert envelope["type"] == "PATIENT_CREATED"
    assert envelope["data"]["id"] == patient["id"]
    assert envelope["data"]["email"] == "ada@example.test"
    assert set(envelope) == {"id", "type", "data", "createdDate", "alertId"}
    [attempt] = await attempts(client, webhook["id"])
    assert attempt["id"] != envelope["id"]
    assert (attempt["type"], attempt["alertId"]) == ("PATIENT_CREATED", envelope["alertId"])
    assert attempt["data"] == envelope["data"]
    assert attempt["lastDeliveryAttemptStatus"] == 200
    assert attempt["deliveredDate"] is not None
    one = await client.get(f"{HOOKS}/events/{attempt['id']}", headers=creds())
    assert one.json() == attempt


async def test_a_failing_receiver_is_retried_at_the_documented_offsets(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500, 503)) as hook:
        webhook = await register(client, hook.url, ["CHARGE_CREATED"])
        await new_charge(client)
        await settled(app)
        [attempt] = await attempts(client, webhook["id"])
        tried = [attempt["lastDeliveryAttemptDate"]]
        assert (attempt["lastDeliveryAttemptStatus"], attempt["deliveredDate"]) == (500, None)
        # Nothing is due until the tenant's clock reaches the next try, 1 s later ...
        await clock(client, advanceSeconds=0)
        await settled(app)
        assert len(hook.received) == 1
        for step in (1, 5):
            await clock(client, advanceSeconds=step)
            await settled(app)
            [attempt] = await attempts(client, webhook["id"])
            tried.append(attempt["lastDeliveryAttemptDate"])
        bodies = [got.body for got in hook.wait_for(3)]
    start = datetime.fromisoformat(FROZEN)
    assert [datetime.fromisoformat(t) - start for t in tried] == [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(seconds=6),
    ]
    assert attempt["lastDeliveryAttemptStatus"] == 200
    assert attempt["deliveredDate"] is not None
    # Every try is the same event, byte for byte: receivers deduplicate by its id.
    assert len(set(bodies)) == 1


async def test_tries_run_out_after_the_schedule(client: httpx.AsyncClient, app: Starlette) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500,) * 10) as hook:
        webhook = await register(client, hook.url, ["CHARGE_CREATED"])
        await new_charge(client)
        await settled(app)
        for step in (1, 5, 15, 60, 300, 900, 3600):
            await clock(client, advanceSeconds=step)
            await settled(app)
        assert len(hook.received) == 7
    [attempt] = await attempts(client, webhook["id"])
    assert attempt["deliveredDate"] is None


async def test_only_subscribed_types_are_sent(client: httpx.AsyncClient, app: Starlette) -> None:
    with receiver() as hook:
        await register(client, hook.url, ["CHARGE_CREATED"])
        await new_patient(client)
        charge = await new_charge(client)
        await settled(app)
        received = hook.wait_for(1)
        await asyncio.sleep(0.05)
    assert [json.loads(got.body)["type"] for got in received] == ["CHARGE_CREATED"]
    assert json.loads(received[0].body)["data"]["id"] == charge["id"]


async def test_money_movements_fire_their_events(client: httpx.AsyncClient, app: Starlette) -> None:
    types = ["PAYMENT_CREATED", "PAYMENT_COMPLETED", "PAYMENT_FAILED", "REFUND_CREATED",
             "ADJUSTMENT_CREATED"]  # fmt: skip
    with receiver() as hook:
        await register(client, hook.url, types)
        body = [{"id": CHARGE, "patientId": PATIENT, "totalOutstanding": 10_000}]
        paid = await client.post(
            f"{SETTLE}?payment_medium=CASH&amount=5000", json=body, headers=creds()
        )
        payment = paid.json()["id"]
        refund = {"paymentId": payment, "providerId": "p", "amount": 100, "reason": "OTHER"}
        await client.post("/billing/payment/refund", json=refund, headers=creds())
        adjust = {"chargeId": CHARGE, "amount": -100, "reason": "goodwill"}
        await client.post("/billing/adjustment/create", json=adjust, headers=creds())
        await settled(app)
        received = hook.wait_for(4)
    sent = [(json.loads(got.body)["type"], json.loads(got.body)["data"]["id"]) for got in received]
    assert sent[:2] == [("PAYMENT_CREATED", payment), ("PAYMENT_COMPLETED", payment)]
    assert [kind for kind, _ in sent[2:]] == ["REFUND_CREATED", "ADJUSTMENT_CREATED"]


async def test_an_ach_return_fires_payment_failed(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    body = [{"id": CHARGE, "patientId": PATIENT, "totalOutstanding": 10_000}]
    url = f"{SETTLE}?payment_medium=CASH&amount=5000"
    payment = (await client.post(url, json=body, headers=creds())).json()["id"]
    with receiver() as hook:
        await register(client, hook.url, ["PAYMENT_FAILED"])
        failed = await client.post(f"/_sandbox/tenants/acme/decoda/payments/{payment}/fail")
        assert failed.status_code == 200, failed.text
        await settled(app)
        [got] = hook.wait_for(1)
    envelope = json.loads(got.body)
    assert (envelope["type"], envelope["data"]["id"]) == ("PAYMENT_FAILED", payment)
    assert envelope["data"]["status"] == "FAILED"


async def test_an_archived_webhook_gets_nothing(client: httpx.AsyncClient, app: Starlette) -> None:
    with receiver() as hook:
        webhook = await register(client, hook.url, ["PATIENT_CREATED"])
        await client.delete(f"{HOOKS}/delete/{webhook['id']}", headers=creds())
        await new_patient(client)
        await settled(app)
        await asyncio.sleep(0.05)
        assert hook.received == []
    assert await attempts(client, webhook["id"]) == []


async def test_tenants_are_isolated(client: httpx.AsyncClient, app: Starlette) -> None:
    with receiver() as hook:
        await register(client, hook.url, ["PATIENT_CREATED"], tenant="globex")
        await new_patient(client, tenant="acme")
        await settled(app)
        await asyncio.sleep(0.05)
        assert hook.received == []


async def test_a_dead_receiver_never_slows_or_fails_the_api(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"  # bound, never listening
        webhook = await register(client, dead, ["PATIENT_CREATED"])
        started = time.perf_counter()
        response = await client.post("/user/patient/create", json={}, headers=creds())
        assert time.perf_counter() - started < 1
        assert response.status_code == 200
        await settled(app)
    [attempt] = await attempts(client, webhook["id"])
    assert attempt["lastDeliveryAttemptStatus"] is None
    assert attempt["lastDeliveryAttemptError"]


async def test_send_delivers_an_attempt_again(client: httpx.AsyncClient, app: Starlette) -> None:
    with receiver() as hook:
        webhook = await register(client, hook.url, ["PATIENT_CREATED"])
        await new_patient(client)
        await settled(app)
        [attempt] = await attempts(client, webhook["id"])
        again = await client.get(f"{HOOKS}/events/{attempt['id']}/send", headers=creds())
        assert again.status_code == 200, again.text
        await settled(app)
        first, second = hook.wait_for(2)
    assert first.body == second.body


async def test_deliveries_survive_a_snapshot(client: httpx.AsyncClient, app: Starlette) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500,)) as hook:
        webhook = await register(client, hook.url, ["PATIENT_CREATED"])
        await new_patient(client)
        await settled(app)
        saved = (await client.get("/_sandbox/tenants/acme/state")).json()
        await client.post("/_sandbox/tenants/acme/reset")
        restored = await client.put("/_sandbox/tenants/acme/state", json=saved)
        assert restored.status_code < 300, restored.text
        assert (await client.get("/_sandbox/tenants/acme/state")).json() == saved
        # The restored tenant still owes the retry, 1 s on.
        await clock(client, advanceSeconds=1)
        await settled(app)
        hook.wait_for(2)
    [attempt] = await attempts(client, webhook["id"])
    assert attempt["deliveredDate"] is not None
