"""Decoda seed data: deterministic, golden, every reachable status explained by its money."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from billing_sandbox.apis.decoda.render import dump
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings

GOLDEN = Path(__file__).parent / "golden" / "seed-0-acme.json"


def seeded(settings: Settings, tenant: str) -> DecodaStore:
    store: DecodaStore = create_app(settings).state.sandbox.tenant(tenant).store("decoda")
    return store


def dumped(settings: Settings, tenant: str) -> bytes:
    data = dump(seeded(settings, tenant))
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def test_golden_dump_of_seed_0_tenant_acme() -> None:
    produced = dumped(Settings(seed=0), "acme")
    if os.environ.get("BILLING_SANDBOX_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(produced)
    assert produced == GOLDEN.read_bytes(), (
        "seed data changed; if intended, rerun with BILLING_SANDBOX_UPDATE_GOLDEN=1 and commit"
    )


def test_other_seed_or_tenant_gives_other_data() -> None:
    base = dumped(Settings(seed=0), "acme")
    assert dumped(Settings(seed=0), "acme") == base
    assert dumped(Settings(seed=1), "acme") != base
    assert dumped(Settings(seed=0), "globex") != base


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
