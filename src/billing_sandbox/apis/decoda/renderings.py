"""How Decoda serves each kind of record a snapshot holds, in both API generations, so an
import checks them all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from billing_sandbox.apis.decoda import render, render_v1
from billing_sandbox.apis.decoda.records import Charge
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.apis.decoda.timeline import timeline
from billing_sandbox.tenants.tenant import Rendering

_ID = attrgetter("id")
Answer = Callable[[Any], Any]


def renderings(store: DecodaStore) -> Sequence[Rendering]:
    """Each record as every read that serves it answers, and as the write that made it
    answered for records no read serves alone. The lists serve the shapes the reads by id
    do, or a part of them (`listChargesV1` the summary `getChargeV1` extends), and a
    payment's timeline is the union of its charges' timelines, each checked with its charge."""

    def rendering(table: str, records: Any, schema: str, answer: Answer) -> Rendering:
        return Rendering(table, records, _ID, schema, answer)

    patients, items = store.patients.values(), store.items.values()
    charges, payments = store.charges.values(), store.payments.values()
    hooks = store.hooks
    # Records others embed come first, so that a problem is named where it is (an adjustment
    # of a bad type, not the charge that shows it).
    return (
        rendering("patients", patients, "getPatient",
                  lambda patient: render.patient_chart(patient, store)),
        rendering("patients", patients, "getPatientV1", render_v1.patient),
        rendering("items", items, "#/components/schemas/ItemTiny", render.item_tiny),
        rendering("items", items, "#/components/schemas/ItemSummaryV1", render_v1.item_summary),
        rendering("refunds", store.refunds.values(), "refundPayment", render.refund_summary),
        rendering("adjustments", store.adjustments.values(), "createAdjustment",
                  render.adjustment_summary),
        rendering("plans", store.plans.values(), "createPaymentPlanWithCharges", render.plan),
        rendering("payments", payments, "#/components/schemas/Payment",
                  lambda payment: render.payment(payment, store)),
        rendering("payments", payments, "#/components/schemas/PaymentV1",
                  lambda payment: render_v1.payment(payment, store)),
        rendering("charges", charges, "getCharge",
                  lambda charge: render.charge_detail(charge, store)),
        rendering("charges", charges, "getChargeV1",
                  lambda charge: render_v1.charge_detail(charge, store)),
        rendering("charges", charges, "getChargeTimeline",
                  lambda charge: _charge_events(charge, store)),
        rendering("webhooks", hooks.webhooks.values(), "getWebhook", render.webhook),
        rendering("deliveries", hooks.deliveries.values(), "getWebhookDelivery",
                  render.delivery),
    )  # fmt: skip


def _charge_events(charge: Charge, store: DecodaStore) -> list[Any]:
    if charge.archived:
        return []  # an archived charge has no timeline to read (it is a 404)
    return [render.event(entry) for entry in timeline(store, charge.id, None)]
