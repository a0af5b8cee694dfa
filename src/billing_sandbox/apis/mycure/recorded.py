"""Recorded MYCURE answers as seed data: statements of account, and the customers they name."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from billing_sandbox.apis.mycure import querystring
from billing_sandbox.apis.mycure.records import Facility, InsuranceContract, Organization
from billing_sandbox.apis.mycure.store import MycureStore, Reference
from billing_sandbox.recordings import Exchange, Notice

RECORDED_OPERATIONS = frozenset(
    {
        "findBillingSoas",
        "getBillingSoa",
        "createBillingSoa",
        "patchBillingSoa",
        "removeBillingSoa",
    }
)
# The store fills these on create and keeps them on every statement; a snapshot checks them.
_KEPT = ("id", "facility", "type", "customer", "createdAt", "createdBy", "customerType")
_CONTRACT_TYPES = {
    "insurance": "insurance-facility",
    "corporate-partner": "corporate-partner-facility",
}


def load_recorded(store: MycureStore, exchanges: Sequence[Exchange]) -> list[Notice]:
    """Every statement the answers show (a removal removes it), the latest answer winning."""
    skipped: list[Notice] = []
    for exchange in exchanges:
        body: Any = exchange.response.body
        if exchange.operation_id == "removeBillingSoa":
            store.soas.pop(body["id"], None)
            continue
        if exchange.operation_id != "findBillingSoas":
            rows, partial = [body], False
        else:
            rows = body if isinstance(body, list) else body["data"]
            # A `$select` answer shows some fields of each statement, not that others are gone.
            partial = "$select" in querystring.parse(exchange.query)
        for row in rows:
            problem = _take(store, row, partial)
            if problem is not None:
                skipped.append(Notice(exchange.source, f"billing SOA {row['id']}: {problem}"))
    return skipped


def _take(store: MycureStore, row: dict[str, Any], partial: bool) -> str | None:
    """Store one statement (or lay a partial one over the one stored); or say why not."""
    if partial:
        if row["id"] not in store.soas:
            return "a $select answer shows only some of its fields, and no answer shows all"
        row = {**store.soas[row["id"]], **row}
    missing = [name for name in _KEPT if name not in row]
    if missing:
        return f"the sandbox keeps {', '.join(missing)} on every statement; the answer has none"
    problem = _customer(store.reference, row)
    if problem is not None:
        return problem
    store.add(dict(row))
    return None


def _customer(ref: Reference, row: dict[str, Any]) -> str | None:
    """Add the facility and customer a statement names when unknown here (their names and an
    insurer's id derived, as the answer does not show them); refuse when ours disagree."""
    kind, subkind = row["customerType"], row.get("customerSubtype")
    customer = row["customer"]
    if row["type"] == "insurance-contract":
        contract = ref.contracts.get(customer)
        insurer = ref.organizations.get(contract.insurer) if contract else None
    else:
        contract = None
        insurer = ref.organizations.get(customer)
    if insurer is not None and (insurer.type, insurer.subtype) != (kind, subkind):
        return (
            f"its customer {customer} is {insurer.type}/{insurer.subtype} here; the answer "
            f"says {kind}/{subkind}"
        )
    if row["facility"] not in ref.facilities:
        facility = row["facility"]
        ref.facilities[facility] = Facility(facility, f"Facility {facility} (recorded)")
    if insurer is None and row["type"] == "organization":
        ref.organizations[customer] = Organization(
            customer, f"Customer {customer} (recorded)", kind, subkind
        )
    elif insurer is None:
        insurer_id = hashlib.sha256(f"insurer:{customer}".encode()).hexdigest()[:24]
        name = f"Insurer of contract {customer} (recorded)"
        ref.organizations[insurer_id] = Organization(insurer_id, name, kind, subkind)
        contract_type = _CONTRACT_TYPES.get(kind, "insurance-facility")
        ref.contracts[customer] = InsuranceContract(
            customer, contract_type, row["facility"], insurer_id, name
        )
    return None
