"""An event's `data`: the record it is about, in the current API's shape (docs/fidelity.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_sandbox.apis.decoda import render
from billing_sandbox.apis.decoda.records import Adjustment, Charge, Patient, Payment, Refund
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.errors import NotFound, Unprocessable

# What each event type is about: the table its record comes from, and the record's name.
SUBJECTS = {
    "PATIENT_CREATED": ("patients", "Patient"),
    "PATIENT_UPDATED": ("patients", "Patient"),
    "CHARGE_CREATED": ("charges", "Charge"),
    "PAYMENT_CREATED": ("payments", "Payment"),
    "PAYMENT_COMPLETED": ("payments", "Payment"),
    "PAYMENT_FAILED": ("payments", "Payment"),
    "REFUND_CREATED": ("refunds", "Refund"),
    "ADJUSTMENT_CREATED": ("adjustments", "Adjustment"),
}


def subject(store: DecodaStore, event_type: str, record_id: str | None) -> Any:
    """The record an event of `event_type` would be about: the one named, or the tenant's
    newest of its kind."""
    table_name, entity = SUBJECTS[event_type]
    table: dict[str, Any] = getattr(store, table_name)
    if record_id is None:
        if not table:
            raise Unprocessable(f"the tenant has no {entity.lower()} for a {event_type} event")
        return next(reversed(table.values()))
    found = table.get(record_id)
    if found is None or getattr(found, "archived", False) is True:
        raise NotFound(entity, record_id)
    return found


def describer(store: DecodaStore) -> Callable[[Any], dict[str, Any]]:
    def describe(record: Any) -> dict[str, Any]:
        if isinstance(record, Patient):
            return render.patient_summary(record)
        if isinstance(record, Charge):
            return render.charge_summary(record, store)
        if isinstance(record, Payment):
            return render.payment_summary(record)
        if isinstance(record, Refund):
            return render.refund_summary(record)
        if isinstance(record, Adjustment):
            return render.adjustment_summary(record)
        raise TypeError(f"no event describes a {type(record).__name__}")

    return describe
