"""The MYCURE records a user needs to make valid calls, as the control API lists them."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.mycure.records import as_json
from billing_sandbox.apis.mycure.store import MycureStore


def reference(store: MycureStore) -> dict[str, Any]:
    """What a user needs to make valid calls: facilities, customers, invoices, accounts."""
    ref = store.reference
    return {
        "organisation": store.organisation,
        "facilities": [as_json(f) for f in ref.facilities.values()],
        "customers": {
            "organizations": [as_json(o) for o in ref.organizations.values()],
            "insuranceContracts": [as_json(c) for c in ref.contracts.values()],
        },
        "invoices": [as_json(i) for i in ref.invoices.values()],
        "invoiceItems": [as_json(i) for i in ref.invoice_items.values()],
        "accounts": [a.as_json() for a in store.accounts.values()],
    }
