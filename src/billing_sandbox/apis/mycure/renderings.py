"""How MYCURE serves each kind of record a snapshot holds, so an import checks them all."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

from billing_sandbox.apis.mycure.store import MycureStore
from billing_sandbox.tenants.tenant import Rendering


def renderings(store: MycureStore) -> Sequence[Rendering]:
    """Statements as `GET /billing-soas/{id}` answers (a find serves the same records) and
    accounts as `GET /accounts/{uid}`; the reference records are served by no MYCURE call,
    and their times carry the spec's bound for a timestamp."""
    return (
        Rendering("soas", store.soas.values(), itemgetter("id"), "getBillingSoa", _as_kept),
        Rendering("accounts", store.accounts.values(), attrgetter("uid"), "getAccount",
                  lambda account: account.as_json()),
        Rendering("invoices", store.reference.invoices.values(), attrgetter("id"),
                  "#/components/schemas/Timestamp", attrgetter("createdAt"), field="createdAt"),
    )  # fmt: skip


def _as_kept(record: Any) -> Any:
    return record
