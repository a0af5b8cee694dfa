"""Decoda seed data: every reachable status, each explained by its money."""

from __future__ import annotations

from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings


def seeded(settings: Settings, tenant: str) -> DecodaStore:
    store: DecodaStore = create_app(settings).state.sandbox.tenant(tenant).store("decoda")
    return store


def test_every_status_the_api_can_reach_is_seeded() -> None:
    statuses = {c.status for c in seeded(Settings(), "acme").charges.values()}
    reachable = {"OUTSTANDING", "PAID", "EXTERNAL_SETTLEMENT", "VOID", "WRITE_OFF", "REFUNDED",
                 "PAYMENT_PLAN"}  # fmt: skip
    assert statuses == reachable


def test_seeded_charges_have_the_money_that_explains_them() -> None:
    store = seeded(Settings(), "acme")
    for charge in store.charges.values():
        moves = [store.adjustments[a].adjustment_type for a in charge.adjustment_ids]
        if charge.status == "WRITE_OFF":
            assert "WRITE_OFF" in moves
        if charge.status in ("PAID", "EXTERNAL_SETTLEMENT", "REFUNDED") and charge.total:
            assert charge.payment_ids or "ADJUSTMENT" in moves
        if charge.status == "PAYMENT_PLAN":
            assert charge.plan_ids
