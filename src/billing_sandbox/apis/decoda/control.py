"""Decoda's sandbox-only actions, served under the control API (`/_sandbox/tenants/{t}/decoda/…`):
what production does on its own (an ACH return, a void by staff), and what falls due when a
tenant's clock moves."""

from __future__ import annotations

from typing import Any

from billing_sandbox.api import Call
from billing_sandbox.apis.decoda import render
from billing_sandbox.apis.decoda.alerts import subject
from billing_sandbox.apis.decoda.installments import settle_tenant
from billing_sandbox.apis.decoda.records import Delivery
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.faults.rules import FaultRules

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


async def trigger_decoda_event(call: Call[None]) -> dict[str, Any]:
    """Emit an event of the given type about a record, as `stripe trigger` does: one delivery
    per active webhook subscribed to the type, sent at once. The answer lists the types the
    tenant's webhooks subscribe to, and says so when none of them takes this one."""
    store = _store(call)
    event_type = call.body["type"]
    record = subject(store, event_type, call.body.get("id"))
    made = store.hooks.emit(event_type, record)
    active = [hook for hook in store.hooks.webhooks.values() if not hook.archived]
    subscribed = sorted({kind for hook in active for kind in hook.subscriptions})
    answer: dict[str, Any] = {
        "type": event_type,
        "recordId": record.id,
        "eventId": made[0].event_id if made else None,
        "deliveries": [delivery.id for delivery in made],
        "subscribedTypes": subscribed,
    }
    if not made:
        answer["message"] = _unheard(call.path["tenant"], event_type, len(active), subscribed)
    return answer


def _unheard(tenant: str, event_type: str, webhooks: int, subscribed: list[str]) -> str:
    """Why a triggered event was sent nowhere, and what would hear it."""
    if not webhooks:
        return (
            f"nothing was sent: tenant {tenant} has no active webhook; register one that "
            f"subscribes to {event_type} (POST /webhook/decoda/create)"
        )
    return (
        f"nothing was sent: no webhook of tenant {tenant} subscribes to {event_type}; its "
        f"{'webhook subscribes' if webhooks == 1 else 'webhooks subscribe'} to "
        f"{', '.join(subscribed) or 'no event type'}"
    )


async def list_decoda_deliveries(call: Call[None]) -> dict[str, Any]:
    """Every delivery the tenant keeps, newest first, with the whole history of its tries."""
    hooks = _store(call).hooks
    newest = hooks.newest_first()
    page = newest[call.query["offset"] :][: call.query["limit"]]
    return {
        "total": len(newest),
        "dropped": hooks.dropped,
        "deliveries": [_delivery(d, hooks.webhooks[d.webhook_id].url) for d in page],
    }


async def send_decoda_delivery(call: Call[None]) -> dict[str, Any]:
    """Decoda's manual send, for an operator: the delivery falls due now (the courier tries it
    once the answer is sent, as after any change)."""
    hooks = _store(call).hooks
    delivery = hooks.resend(call.path["delivery_id"])
    return _delivery(delivery, hooks.webhooks[delivery.webhook_id].url)


def _delivery(delivery: Delivery, url: str) -> dict[str, Any]:
    return {
        **render.delivery(delivery),
        "webhookId": delivery.webhook_id,
        "url": url,
        "eventId": delivery.event_id,
        "nextTryDue": render.iso(delivery.next_due),
        "sending": delivery.in_flight,
        "tries": [
            {
                "at": render.iso(attempt.at),
                "status": attempt.status,
                "error": attempt.error,
                "durationMs": attempt.duration_ms,
            }
            for attempt in delivery.history
        ],
    }


def on_clock_moved(store: DecodaStore, tenant_id: str, faults: FaultRules) -> list[str]:
    """Settle the installments now due; their ids."""
    return [installment.id for installment in settle_tenant(store, tenant_id, faults)]
