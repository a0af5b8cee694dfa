"""An event's `data`: the record it is about, in the current API's shape (docs/fidelity.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_sandbox.apis.decoda import render
from billing_sandbox.apis.decoda.records import Adjustment, Charge, Patient, Payment, Refund
from billing_sandbox.apis.decoda.store import DecodaStore


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
