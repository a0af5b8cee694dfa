"""Kept renderings are never stale: after every kind of write (each Decoda operation that
writes, in both generations, and each control call that changes records), the charges a read
serves, and their timelines, are byte for byte what a fresh render of the store gives
(hypothesis state machine)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from billing_sandbox.apis.decoda import render
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.apis.decoda.timeline import timeline
from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import load_spec

PATIENT = "pat_sandbox_0001"
# Decoda writes that cannot change a charge's rendering (webhooks, the tenant's webhook
# config, new patients: a charge embeds its patient, and no operation changes a patient).
NOT_ABOUT_CHARGES = {
    "updateWebhookConfig", "createWebhook", "updateWebhook", "deleteWebhook", "createWebhookV1",
    "updateWebhookV1", "deleteWebhookV1", "sendWebhookDelivery", "sendWebhookDeliveryV1",
}  # fmt: skip
# What the machine's rules send, besides control calls (each rule names its operation).
EXERCISED = {
    "createCharge", "createChargeV1", "createCashSettledPayment", "createAdjustment",
    "adjustChargeV1", "createWriteOff", "refundPayment", "archiveCharge",
    "createPaymentPlanWithCharges", "cancelPaymentPlan", "createPatient", "createPatientV1",
    "failDecodaPayment", "setTenantClock", "putTenantState", "putState",
}  # fmt: skip
tenant_numbers = itertools.count()


class KeptRenderings(RuleBasedStateMachine):
    """Writes of every kind, each followed by reads that must match a fresh render."""

    def __init__(self) -> None:
        super().__init__()
        clock = ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
        self.app = create_app(Settings(), clock=clock)
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://localhost")
        self.tenant = f"coherent{next(tenant_numbers)}"
        self.creds = {"TENANT": self.tenant, "API-KEY": "k"}
        self.charge_ids: list[str] = []
        self.payment_ids: list[str] = []
        self.read()  # seeds the tenant and fills the kept renderings

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def write(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        """A write as a client sends it; refusals are fine (they must change nothing)."""
        assert operation in EXERCISED
        response = self.run(self.client.request(method, path, headers=self.creds, **kwargs))
        assert response.status_code < 500, response.text
        return response.json() if response.status_code == 200 else None

    def store(self) -> DecodaStore:
        found: DecodaStore = self.app.state.sandbox.tenant(self.tenant).store("decoda")
        return found

    def read(self) -> None:
        listed = self.run(self.client.get("/billing/charge/list", headers=self.creds))
        assert listed.status_code == 200, listed.text
        self.charge_ids = [charge["id"] for charge in listed.json()]

    def pick(self, index: int) -> str:
        return self.charge_ids[index % len(self.charge_ids)]

    # ---- the writes ----

    @rule(owed=st.integers(0, 9000), legacy=st.booleans())
    def create_charge(self, owed: int, legacy: bool) -> None:
        body = {"patientId": PATIENT, "totalOutstanding": owed}
        if legacy:
            self.write("createChargeV1", "POST", "/v1/charge/create", json=body)
        else:
            path = "/billing/payment-terminal/charge/create"
            self.write("createCharge", "POST", path, json=body)

    @rule(index=st.integers(0, 999), amount=st.integers(1, 5000))
    def pay_cash(self, index: int, amount: int) -> None:
        owed = [{"id": self.pick(index), "patientId": PATIENT, "totalOutstanding": 0}]
        made = self.write(
            "createCashSettledPayment",
            "POST",
            "/billing/payment-terminal/charge/create-cash-settled",
            params={"payment_medium": "CASH", "amount": amount},
            json=owed,
        )
        if made is not None:
            self.payment_ids.append(made["id"])

    @rule(index=st.integers(0, 999), amount=st.integers(-300, 300), legacy=st.booleans())
    def adjust(self, index: int, amount: int, legacy: bool) -> None:
        body = {"chargeId": self.pick(index), "amount": amount, "reason": "goodwill"}
        if legacy:
            self.write("adjustChargeV1", "POST", "/v1/charge/adjust", json=body)
        else:
            self.write("createAdjustment", "POST", "/billing/adjustment/create", json=body)

    @rule(index=st.integers(0, 999))
    def write_off(self, index: int) -> None:
        body = {"chargeId": self.pick(index), "reason": "Uncollectible"}
        self.write("createWriteOff", "POST", "/billing/write-off/create", json=body)

    @precondition(lambda self: self.payment_ids)
    @rule(index=st.integers(0, 999), amount=st.integers(1, 500))
    def refund(self, index: int, amount: int) -> None:
        payment = self.payment_ids[index % len(self.payment_ids)]
        body = {"paymentId": payment, "providerId": "p", "amount": amount, "reason": "OTHER"}
        self.write("refundPayment", "POST", "/billing/payment/refund", json=body)

    @precondition(lambda self: self.payment_ids)
    @rule(index=st.integers(0, 999))
    def ach_return(self, index: int) -> None:
        payment = self.payment_ids[index % len(self.payment_ids)]
        path = f"/_sandbox/tenants/{self.tenant}/decoda/payments/{payment}/fail"
        self.write("failDecodaPayment", "POST", path)

    @rule(index=st.integers(0, 999))
    def archive(self, index: int) -> None:
        self.write("archiveCharge", "DELETE", f"/billing/charge/{self.pick(index)}")

    @rule(index=st.integers(0, 999), installments=st.integers(2, 4))
    def plan(self, index: int, installments: int) -> None:
        charge = self.pick(index)
        payment_plan = {"initialAmount": 0, "chargeIds": [charge], "frequency": "MONTHLY",
                        "installments": installments, "installmentAmount": 100}  # fmt: skip
        body = {
            "charges": [{"id": charge, "patientId": PATIENT, "totalOutstanding": 0}],
            "paymentPlan": payment_plan,
            "rainforestPaymentMethodId": "pm_sandbox",
        }
        self.write(
            "createPaymentPlanWithCharges", "POST", "/billing/payment-plan/create-with-charges",
            json=body,
        )  # fmt: skip

    @rule(index=st.integers(0, 999))
    def cancel_plan(self, index: int) -> None:
        self.write("cancelPaymentPlan", "DELETE", f"/billing/payment-plan/{self.pick(index)}")

    @rule(legacy=st.booleans())
    def new_patient(self, legacy: bool) -> None:
        if legacy:
            self.write("createPatientV1", "POST", "/v1/patient/create", json={"lastName": "X"})
        else:
            self.write("createPatient", "POST", "/user/patient/create", json={"firstName": "Y"})

    @rule(days=st.integers(1, 70))
    def move_clock(self, days: int) -> None:
        path = f"/_sandbox/tenants/{self.tenant}/clock"
        self.write("setTenantClock", "POST", path, json={"advanceSeconds": days * 86_400})

    @rule()
    def restore_an_earlier_snapshot(self) -> None:
        path = f"/_sandbox/tenants/{self.tenant}/state"
        saved = self.run(self.client.get(path)).json()
        self.pay_cash(0, 1)  # a change the restore must undo, in the kept renderings too
        self.read()
        restored = self.run(self.client.put(path, content=orjson.dumps(saved)))
        assert restored.status_code < 300, restored.text

    @rule()
    def restore_every_tenant(self) -> None:
        saved = self.run(self.client.get("/_sandbox/state")).json()
        self.pay_cash(1, 1)
        self.read()
        self.run(self.client.put("/_sandbox/state", content=orjson.dumps(saved)))

    # ---- what must hold after each step ----

    @invariant()
    def reads_match_a_fresh_render(self) -> None:
        self.read()
        store = self.store()
        fresh = [render.charge_detail(c, store) for c in store.find_charges(None, None)]
        listed = self.run(self.client.get("/billing/charge/list", headers=self.creds))
        assert listed.content == orjson.dumps(fresh)
        for charge in store.find_charges(None, None)[-3:]:
            one = self.run(self.client.get(f"/billing/charge/get/{charge.id}", headers=self.creds))
            assert one.content == orjson.dumps(render.charge_detail(charge, store))
            path = f"/billing/charge/timeline?charge_id={charge.id}"
            events = self.run(self.client.get(path, headers=self.creds))
            fresh_events = [render.event(entry) for entry in timeline(store, charge.id, None)]
            assert events.content == orjson.dumps(fresh_events)

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.client.aclose())
        self.loop.close()


KeptRenderings.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
test_kept_renderings_match_a_fresh_render = KeptRenderings.TestCase


def test_every_write_that_can_change_a_charge_is_exercised() -> None:
    """A write added to the spec must join the machine (or say why it cannot matter)."""
    spec = load_spec(Settings().specs_dir / "decoda-billing.yaml")
    writes = {op.operation_id for op in spec.operations if op.changes_state}
    missing = writes - NOT_ABOUT_CHARGES - EXERCISED
    assert not missing, f"writes the coherence machine never made: {sorted(missing)}"
