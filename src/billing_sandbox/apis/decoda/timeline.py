"""The charge timeline: which events a charge or a payment has, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from billing_sandbox.apis.decoda.records import Adjustment, Charge, Installment, Payment, Refund
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.errors import BadRequest

# When two events share a moment, the charge comes first and its consequences after.
_ORDER = {
    "CHARGE": 0, "ADJUSTMENT": 1, "SCHEDULED_PAYMENT": 2, "PAYMENT": 3,
    "EXTERNAL_SETTLEMENT": 3, "FAILED_PAYMENT": 4, "REFUND": 5, "WRITE_OFF": 6, "VOID": 7,
}  # fmt: skip


@dataclass(frozen=True)
class Event:
    """One timeline entry and the record it describes."""

    type: str
    id: str
    amount: int
    date: datetime
    status: str | None
    charge: Charge | None = None
    payment: Payment | None = None
    refund: Refund | None = None
    adjustment: Adjustment | None = None
    installment: Installment | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity for de-duplication: a payment shows once per charge it paid."""
        per_charge = self.charge.id if self.charge and self.type != "CHARGE" else ""
        return (self.type, self.id, per_charge)


def timeline(store: DecodaStore, charge_id: str | None, payment_id: str | None) -> list[Event]:
    """Events of a charge, or of a payment and every charge it paid (both: their union)."""
    if charge_id is None and payment_id is None:
        raise BadRequest("give charge_id or payment_id to choose whose timeline to show")
    charges: list[Charge] = []
    if charge_id is not None:
        charges.append(store.charge(charge_id))
    if payment_id is not None:
        payment = store.payment(payment_id)
        charges.extend(
            store.charges[c] for c in payment.allocations if not store.charges[c].archived
        )
    events: dict[tuple[str, str, str], Event] = {}
    for charge in charges:
        for event in _charge_events(store, charge):
            events.setdefault(event.key, event)
    return sorted(events.values(), key=lambda e: (e.date, _ORDER[e.type], e.id))


def _charge_events(store: DecodaStore, charge: Charge) -> list[Event]:
    found = [Event("CHARGE", charge.id, charge.total, charge.created_date, charge.status, charge)]
    for payment_id in charge.payment_ids:
        payment = store.payments[payment_id]
        applied = payment.allocations[charge.id]
        kind = "EXTERNAL_SETTLEMENT" if payment.external else "PAYMENT"
        found.append(
            Event(kind, payment.id, applied, payment.created_date, payment.status, charge, payment)
        )
        if payment.failed_at is not None:
            found.append(
                Event("FAILED_PAYMENT", payment.id, applied, payment.failed_at, "FAILED", charge,
                      payment)
            )  # fmt: skip
        for refund_id in payment.refund_ids:
            refund = store.refunds[refund_id]
            found.append(
                Event("REFUND", refund.id, refund.amount, refund.created_date, refund.status,
                      charge, payment, refund)
            )  # fmt: skip
    for adjustment_id in charge.adjustment_ids:
        adjustment = store.adjustments[adjustment_id]
        found.append(
            Event(adjustment.adjustment_type, adjustment.id, adjustment.amount,
                  adjustment.created_date, None, charge, adjustment=adjustment)
        )  # fmt: skip
    for plan_id in charge.plan_ids:
        for installment in store.plans[plan_id].installments:
            due = datetime.combine(installment.payment_date, time(), tzinfo=UTC)
            found.append(
                Event("SCHEDULED_PAYMENT", installment.id, installment.amount, due,
                      installment.status, charge, installment=installment)
            )  # fmt: skip
    if charge.voided_at is not None:
        found.append(
            Event("VOID", charge.id, charge.voided_amount, charge.voided_at, "VOID", charge)
        )
    return found
