"""Decoda's sandbox-only actions, served under the control API (`/_sandbox/tenants/{t}/decoda/…`):
what production does on its own (an ACH return, a void by staff), and what falls due when a
tenant's clock moves."""

from __future__ import annotations

from typing import Any

from billing_sandbox.api import Call
from billing_sandbox.apis.decoda.installments import settle_tenant
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.control.faults import FaultRules

NAME = "decoda"


def _store(call: Call[None]) -> DecodaStore:
    # A control call names its tenant in the path, not by credentials.
    store: DecodaStore = call.sandbox.tenant(call.path["tenant"]).store(NAME)
    return store


async def fail_decoda_payment(call: Call[None]) -> dict[str, Any]:
    reason = (call.body or {}).get("reason", "R01: insufficient funds")
    payment = _store(call).fail_payment(call.path["payment_id"], reason)
    return {"done": "failed", "id": payment.id, "status": payment.status}


async def void_decoda_charge(call: Call[None]) -> dict[str, Any]:
    charge = _store(call).void(call.path["charge_id"])
    return {"done": "voided", "id": charge.id, "status": charge.status}


def on_clock_moved(store: DecodaStore, tenant_id: str, faults: FaultRules) -> list[str]:
    """Settle the installments now due; their ids."""
    return [installment.id for installment in settle_tenant(store, tenant_id, faults)]
