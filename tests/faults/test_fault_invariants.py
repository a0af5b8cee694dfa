"""A fault that fires before commit never changes stored state, whatever came before it
(hypothesis state machine over Decoda writes, clock moves and every before-commit kind)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.faults.rules import DropConnection
from billing_sandbox.settings import Settings

PATIENT = "pat_sandbox_0001"
CHARGE = "chg_sandbox_0001"
# Each write, as (operationId, method, path, query, body).
WRITES: dict[str, tuple[str, str, dict[str, Any], Any]] = {
    "createCharge": (
        "POST",
        "/billing/payment-terminal/charge/create",
        {},
        {"patientId": PATIENT, "totalOutstanding": 700},
    ),
    "createCashSettledPayment": (
        "POST",
        "/billing/payment-terminal/charge/create-cash-settled",
        {"payment_medium": "CASH", "amount": 3},
        [{"id": CHARGE, "patientId": PATIENT, "totalOutstanding": 0}],
    ),
    "createPatient": ("POST", "/user/patient/create", {}, {"firstName": "Ada"}),
    "createAdjustment": (
        "POST",
        "/billing/adjustment/create",
        {},
        {"chargeId": CHARGE, "amount": -5, "reason": "goodwill"},
    ),
}
# Every kind of fault that acts before the request reaches the store (in process, the ones
# below HTTP fall back to breaking off the answer, which raises in the client).
BEFORE_COMMIT = [
    {"status": 503},
    {"status": 429},
    {"status": 502},
    {"status": 422},
    {"drop": True},
    {"reset": True},
    {"malformed": True},
    {"timeout": True},
    {"latency": {"kind": "uniform", "minMs": 0, "maxMs": 2}, "status": 504},
]
tenant_numbers = itertools.count()


class FaultsBeforeCommit(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        clock = ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
        # A silent answer holds for at most 1 ms here.
        app = create_app(Settings(max_fault_delay_ms=1), clock=clock)
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://localhost")
        self.tenant = f"inv{next(tenant_numbers)}"
        self.creds = {"TENANT": self.tenant, "API-KEY": "k"}

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def call(self, operation: str) -> httpx.Response | None:
        method, path, query, body = WRITES[operation]
        request = self.client.request(method, path, params=query, json=body, headers=self.creds)
        try:
            response: httpx.Response = self.run(request)
        except DropConnection:
            return None  # the answer broke off (in process, the client sees the exception)
        return response

    def state(self) -> Any:
        response = self.run(self.client.get(f"/_sandbox/tenants/{self.tenant}/state"))
        assert response.status_code == 200, response.text
        return response.json()["apis"].get("decoda")

    @rule(operation=st.sampled_from(sorted(WRITES)))
    def write(self, operation: str) -> None:
        response = self.call(operation)
        assert response is not None and response.status_code == 200, operation

    @rule(seconds=st.integers(0, 90 * 86_400))
    def advance(self, seconds: int) -> None:
        path = f"/_sandbox/tenants/{self.tenant}/clock"
        self.run(self.client.post(path, json={"advanceSeconds": seconds}))

    @rule(operation=st.sampled_from(sorted(WRITES)), effect=st.sampled_from(BEFORE_COMMIT))
    def faulted_write(self, operation: str, effect: dict[str, Any]) -> None:
        self.call("createPatient")  # the tenant's Decoda store exists before the snapshot
        before = self.state()
        match = {"api": "decoda", "operationId": operation, "tenant": self.tenant}
        added = self.run(
            self.client.post("/_sandbox/faults", json={"match": match, "effect": effect})
        )
        assert added.status_code == 201, added.text
        try:
            response = self.call(operation)
            assert response is None or response.status_code != 200 or effect.get("malformed")
            assert self.state() == before, f"{effect} on {operation} changed the store"
        finally:
            self.run(self.client.delete(f"/_sandbox/faults/{added.json()['id']}"))

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.client.aclose())
        self.loop.close()


FaultsBeforeCommit.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_faults_before_commit_change_nothing = FaultsBeforeCommit.TestCase
