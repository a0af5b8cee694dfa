"""The Candid records a user needs to make valid calls, as the control API lists them."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.candid.store import CandidStore


def reference(store: CandidStore) -> dict[str, Any]:
    """Service lines, billing providers, payers and the insurance balance adjustments."""
    return store.reference.as_json()
