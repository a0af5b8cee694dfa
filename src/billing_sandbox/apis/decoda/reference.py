"""The Decoda records a user needs to make valid calls, as the control API lists them."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.decoda.render import item_tiny, patient_summary
from billing_sandbox.apis.decoda.store import DecodaStore


def reference(store: DecodaStore) -> dict[str, Any]:
    """The tenant's patients and catalogue items."""
    return {
        "patients": [patient_summary(p) for p in store.patients.values()],
        "items": [item_tiny(i) for i in store.items.values()],
    }
