"""Delivery guarantees over random runs (hypothesis): whatever the operations and however the
receivers fail, every event a webhook subscribes to reaches it at least once unless all seven
tries failed, and a healthy receiver gets each event once, in the order the events happened.
The outbox's bound, as shipped, is checked here too."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.apis.decoda import webhooks
from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CREATE, PATIENT, SETTLE

TYPES = ("PATIENT_CREATED", "CHARGE_CREATED", "PAYMENT_CREATED", "PAYMENT_COMPLETED")
TRIES = len(webhooks.RETRY_AFTER) + 1
# What a receiver does with one request: answers 200 or 500, never answers, or is not there.
OUTCOMES = st.sampled_from(["ok", "500", "timeout", "refused"])
OPERATIONS = st.one_of(
    st.sampled_from(["patient", "charge", "payment"]),
    st.integers(min_value=0, max_value=400),  # advance the tenant's clock this many seconds
)
WEBHOOK = st.tuples(
    st.sets(st.sampled_from(TYPES), min_size=1),
    st.lists(OUTCOMES, max_size=12),  # its receiver's outcomes in turn, then "ok"
)
tenant_numbers = itertools.count()


@cache
def sandbox() -> Starlette:
    """One app for every example; each example has a tenant of its own."""
    return create_app(Settings(), clock=ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC)))


@dataclass
class Receiver:
    """The receivers of every webhook, as a mock transport: each URL path has its plan."""

    plans: dict[str, list[str]]
    # Per path: (event type, record id, event id, delivered) for each request, in turn.
    got: dict[str, list[tuple[str, str, str, bool]]] = field(default_factory=dict)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        plan = self.plans[path]
        outcome = plan.pop(0) if plan else "ok"
        event = json.loads(request.content)
        seen = (event["type"], event["data"]["id"], event["id"], outcome == "ok")
        self.got.setdefault(path, []).append(seen)
        if outcome == "timeout":
            raise httpx.ReadTimeout("no answer", request=request)
        if outcome == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200 if outcome == "ok" else 500)


async def run(
    hooks: list[tuple[set[str], list[str]]], operations: list[str | int]
) -> tuple[dict[str, set[str]], list[tuple[str, str]], Receiver, dict[str, list[str]]]:
    """Register the webhooks, run the operations, then advance the clock past every retry.
    Returns each path's subscriptions, the events the operations caused, what each receiver
    got, and each path's plan as it was at the start."""
    app = sandbox()
    tenant = f"prop{next(tenant_numbers)}"
    creds = {"TENANT": tenant, "API-KEY": "sandbox-key"}
    plans = {f"/w{i}": list(plan) for i, (_, plan) in enumerate(hooks)}
    receiver = Receiver({path: list(plan) for path, plan in plans.items()})
    courier = app.state.courier
    courier.client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    caused: list[tuple[str, str]] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:

        async def call(method: str, url: str, **kwargs: Any) -> Any:
            response = await client.request(method, url, headers=creds, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

        control = f"/_sandbox/tenants/{tenant}/clock"
        await client.post(control, json={"freezeAt": "2026-03-01T12:00:00Z"})
        subscribed = {}
        for (types, _), path in zip(hooks, plans, strict=True):
            body = {"url": f"http://127.0.0.1:9{path}", "subscriptions": sorted(types)}
            await call("POST", "/webhook/decoda/create", json=body)
            subscribed[path] = types
        for operation in operations:
            if operation == "patient":
                made = await call("POST", "/user/patient/create", json={"firstName": "Ada"})
                caused.append(("PATIENT_CREATED", made["id"]))
            elif operation == "charge":
                charge: dict[str, Any] = {"patientId": PATIENT, "totalOutstanding": 500}
                made = await call("POST", CREATE, json=charge)
                caused.append(("CHARGE_CREATED", made["id"]))
            elif operation == "payment":
                owed = [{"id": "chg_sandbox_0001", "patientId": PATIENT, "totalOutstanding": 0}]
                query = {"payment_medium": "CASH", "amount": 1}
                made = await call("POST", SETTLE, params=query, json=owed)
                caused += [("PAYMENT_CREATED", made["id"]), ("PAYMENT_COMPLETED", made["id"])]
            else:
                await client.post(control, json={"advanceSeconds": operation})
        # Each step past the longest gap between tries sends every delivery's next try.
        for _ in range(TRIES):
            await courier.idle()
            await client.post(control, json={"advanceSeconds": 900})
        await courier.idle()
    await courier.close()
    return subscribed, caused, receiver, plans


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    hooks=st.lists(WEBHOOK, min_size=1, max_size=3),
    operations=st.lists(OPERATIONS, max_size=8),
)
def test_every_subscribed_event_arrives_at_least_once_and_in_order_when_healthy(
    hooks: list[tuple[set[str], list[str]]], operations: list[str | int]
) -> None:
    subscribed, caused, receiver, plans = asyncio.run(run(hooks, operations))
    for path, types in subscribed.items():
        owed = [event for event in caused if event[0] in types]
        got = receiver.got.get(path, [])
        tries: dict[tuple[str, str], list[bool]] = {}
        for kind, record_id, _, delivered in got:
            tries.setdefault((kind, record_id), []).append(delivered)
        assert set(tries) <= set(owed), "a webhook got an event it does not subscribe to"
        for event in owed:
            outcomes = tries.get(event, [])
            assert outcomes, f"{event} was never sent to {path}"
            assert any(outcomes) or len(outcomes) == TRIES, (
                f"{event} undelivered to {path} after {len(outcomes)} of {TRIES} tries"
            )
            # Once delivered, an event is not sent again unasked.
            assert True not in outcomes[:-1]
        if all(outcome == "ok" for outcome in plans[path]):
            assert [(kind, record_id) for kind, record_id, _, _ in got] == owed
        # Each event keeps one id however often it is tried.
        ids = {(kind, record_id): event_id for kind, record_id, event_id, _ in got}
        assert all(ids[(k, r)] == e for k, r, e, _ in got)


def test_a_tenant_keeps_at_most_a_thousand_deliveries() -> None:
    """The bound as shipped: 1005 events to one webhook leave the newest 1000, and 5 counted."""
    counter = itertools.count()
    frozen = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    hooks = webhooks.Webhooks(lambda prefix: f"{prefix}_{next(counter):06}", lambda: frozen)
    hook = hooks.create("http://127.0.0.1:9/h", ["PATIENT_UPDATED"], None, ("127.0.0.1",))
    made = [d.id for _ in range(1005) for d in hooks.emit("PATIENT_UPDATED", hook)]
    assert (len(hooks.deliveries), hooks.dropped) == (1000, 5)
    assert list(hooks.deliveries) == made[5:]
