"""A Decoda tenant's store as a snapshot (plain JSON) and back, checked before it is trusted."""

from __future__ import annotations

from operator import attrgetter
from typing import Any, TypeVar

from billing_sandbox.apis.decoda import render
from billing_sandbox.apis.decoda.alerts import describer
from billing_sandbox.apis.decoda.records import (
    Adjustment,
    CatalogueItem,
    Charge,
    Delivery,
    Patient,
    Payment,
    PaymentPlan,
    Refund,
    Webhook,
)
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.apis.decoda.webhooks import DEFAULT_CONFIG, for_snapshot
from billing_sandbox.state.codec import (
    from_json,
    known,
    obj,
    rng_from_json,
    rng_to_json,
    table,
    to_json,
    typed,
)
from billing_sandbox.state.problems import about, invalid
from billing_sandbox.tenants.tenant import Served, Tenant

PATH = "apis.decoda"
TABLES = ("patients", "items", "charges", "payments", "refunds", "adjustments", "plans")
# Tables a snapshot from before they existed lacks: such a snapshot restores them empty.
LATER_TABLES = ("webhooks", "deliveries")
# Likewise for the webhook configuration and the count of deliveries dropped.
LATER_FIELDS = ("webhook_config", "deliveries_dropped")
Record = TypeVar(
    "Record",
    Patient,
    CatalogueItem,
    Charge,
    Payment,
    Refund,
    Adjustment,
    PaymentPlan,
    Webhook,
    Delivery,
)


def export_state(store: DecodaStore) -> dict[str, Any]:
    """Every record of every table in insertion order, and the id generator's position."""
    return {
        # The store keeps its id source private so that only it draws ids; a snapshot must
        # carry the source's position all the same.
        "ids": rng_to_json(store._ids),
        "patients": [to_json(record) for record in store.patients.values()],
        "items": [to_json(record) for record in store.items.values()],
        "charges": [to_json(record) for record in store.charges.values()],
        "payments": [to_json(record) for record in store.payments.values()],
        "refunds": [to_json(record) for record in store.refunds.values()],
        "adjustments": [to_json(record) for record in store.adjustments.values()],
        "plans": [to_json(record) for record in store.plans.values()],
        "webhooks": [to_json(record) for record in store.hooks.webhooks.values()],
        "deliveries": [to_json(for_snapshot(d)) for d in store.hooks.deliveries.values()],
        "webhook_config": store.hooks.config,
        "deliveries_dropped": store.hooks.dropped,
    }


def served_records(store: DecodaStore) -> dict[str, Served]:
    """Each table in insertion order, each record as the current (`/billing/…`) API details
    it: a charge as `GET /billing/charge/get/{id}`, a patient as its chart. Every record
    says when it was made (`createdDate`), which orders them newest first."""
    made = attrgetter("created_date")
    return {
        "charges": Served(
            store.charges.values(), lambda charge: render.charge_detail(charge, store), made
        ),
        "payments": Served(
            store.payments.values(), lambda payment: render.payment(payment, store), made
        ),
        "refunds": Served(store.refunds.values(), render.refund_summary, made),
        "adjustments": Served(store.adjustments.values(), render.adjustment_summary, made),
        "plans": Served(store.plans.values(), render.plan, made),
        "patients": Served(store.patients.values(), lambda p: render.patient_chart(p, store), made),
        "webhooks": Served(store.hooks.webhooks.values(), render.webhook, made),
    }


def import_state(tenant: Tenant, data: Any) -> DecodaStore:
    """A store holding exactly what `data` says, or a `BadRequest` naming what is wrong."""
    given = obj(data, PATH, ("ids", *TABLES), (*LATER_TABLES, *LATER_FIELDS))
    given = {**{name: [] for name in LATER_TABLES}, **given}
    store = DecodaStore(ids=rng_from_json(given["ids"], f"{PATH}.ids"), clock=tenant.clock)
    store.patients = _table(given, "patients", Patient)
    store.items = _table(given, "items", CatalogueItem)
    store.charges = _table(given, "charges", Charge)
    store.payments = _table(given, "payments", Payment)
    store.refunds = _table(given, "refunds", Refund)
    store.adjustments = _table(given, "adjustments", Adjustment)
    store.plans = _table(given, "plans", PaymentPlan)
    store.hooks.webhooks = _table(given, "webhooks", Webhook)
    deliveries = _table(given, "deliveries", Delivery)
    # One marked in flight (by hand: exports never are) would wait forever for its outcome.
    store.hooks.deliveries = {key: for_snapshot(d) for key, d in deliveries.items()}
    store.hooks.config = _config(given.get("webhook_config", DEFAULT_CONFIG))
    store.hooks.dropped = _count(given.get("deliveries_dropped", 0), f"{PATH}.deliveries_dropped")
    store.hooks.describe = describer(store)
    _check_references(store)
    return store


def _table(given: dict[str, Any], name: str, kind: type[Record]) -> dict[str, Record]:
    def read(value: Any, path: str) -> Record:
        return from_json(kind, value, path)

    return table(given[name], f"{PATH}.{name}", read, "id")


def _config(value: Any) -> dict[str, Any]:
    path = f"{PATH}.webhook_config"
    config = obj(value, path, tuple(DEFAULT_CONFIG))
    url = config["webhookUrl"]
    if url is not None:
        typed(url, str, f"{path}.webhookUrl")
    typed(config["webhookEnabled"], bool, f"{path}.webhookEnabled")
    for n, item in enumerate(
        typed(config["webhookSubscriptions"], list, f"{path}.webhookSubscriptions")
    ):
        typed(item, str, f"{path}.webhookSubscriptions[{n}]")
    return dict(config)


def _count(value: Any, path: str) -> int:
    count: int = typed(value, int, path)
    if count < 0:
        raise invalid(path, "must not be negative")
    return count


def _check_references(store: DecodaStore) -> None:
    """Every id a record holds names a record of the snapshot (timelines and money rules
    follow them), and records that belong to another point back at it."""
    for index, charge in enumerate(store.charges.values()):
        with about(f"{PATH}.charges[{index}]", charge.id):
            _check_charge(store, charge, f"{PATH}.charges[{index}]")
    for index, payment in enumerate(store.payments.values()):
        path = f"{PATH}.payments[{index}]"
        with about(path, payment.id):
            if payment.patient_id is not None:
                known(payment.patient_id, store.patients, f"{path}.patient_id", "patient")
            for charge_id in payment.allocations:
                known(charge_id, store.charges, f"{path}.allocations.{charge_id}", "charge")
            _all_known(payment.refund_ids, store.refunds, f"{path}.refund_ids", "refund")
    for index, refund in enumerate(store.refunds.values()):
        path = f"{PATH}.refunds[{index}]"
        with about(path, refund.id):
            known(refund.payment_id, store.payments, f"{path}.payment_id", "payment")
    for index, adjustment in enumerate(store.adjustments.values()):
        path = f"{PATH}.adjustments[{index}]"
        with about(path, adjustment.id):
            known(adjustment.charge_id, store.charges, f"{path}.charge_id", "charge")
    for index, delivery in enumerate(store.hooks.deliveries.values()):
        path = f"{PATH}.deliveries[{index}]"
        with about(path, delivery.id):
            known(delivery.webhook_id, store.hooks.webhooks, f"{path}.webhook_id", "webhook")
    for index, plan in enumerate(store.plans.values()):
        path = f"{PATH}.plans[{index}]"
        with about(path, plan.id):
            _all_known(plan.charge_ids, store.charges, f"{path}.charge_ids", "charge")
            for n, installment in enumerate(plan.installments):
                if installment.plan_id != plan.id:
                    problem = f"is not its plan's ({plan.id})"
                    raise invalid(f"{path}.installments[{n}].plan_id", problem)


def _check_charge(store: DecodaStore, charge: Charge, path: str) -> None:
    known(charge.patient_id, store.patients, f"{path}.patient_id", "patient")
    for n, line in enumerate(charge.lines):
        if line.charge_id != charge.id:
            raise invalid(f"{path}.lines[{n}].charge_id", f"is not its charge's ({charge.id})")
        if line.item_id is not None:
            known(line.item_id, store.items, f"{path}.lines[{n}].item_id", "item")
    _all_known(charge.payment_ids, store.payments, f"{path}.payment_ids", "payment")
    for n, payment_id in enumerate(charge.payment_ids):
        # A charge shows each payment's share of it: a payment listed here must have one.
        if charge.id not in store.payments[payment_id].allocations:
            problem = f"names payment {payment_id!r}, which paid nothing of this charge"
            raise invalid(f"{path}.payment_ids[{n}]", problem)
    _all_known(charge.adjustment_ids, store.adjustments, f"{path}.adjustment_ids", "adjustment")
    _all_known(charge.plan_ids, store.plans, f"{path}.plan_ids", "plan")


def _all_known(ids: list[str], table: dict[str, Any], path: str, kind: str) -> None:
    for index, record_id in enumerate(ids):
        known(record_id, table, f"{path}[{index}]", kind)
