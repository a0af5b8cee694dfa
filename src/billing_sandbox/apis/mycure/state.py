"""A MYCURE organisation's store as a snapshot (plain JSON) and back, checked before it is
trusted."""

from __future__ import annotations

from typing import Any, TypeVar

from billing_sandbox.apis.mycure.records import (
    FIELD_TYPES,
    SOA_FIELDS,
    Account,
    Facility,
    InsuranceContract,
    Invoice,
    InvoiceItem,
    Organization,
    uid_for,
)
from billing_sandbox.apis.mycure.store import MycureStore, Reference
from billing_sandbox.state.codec import (
    from_json,
    known,
    obj,
    rng_from_json,
    rng_to_json,
    table,
    to_json,
    typed,
)
from billing_sandbox.state.problems import about, invalid
from billing_sandbox.tenants.tenant import Served, Tenant

PATH = "apis.mycure"
SECTIONS = (
    "ids",
    "facilities",
    "organizations",
    "contracts",
    "invoices",
    "invoice_items",
    "accounts",
    "soas",
)
# Fields every statement has (the create rules stamp the last three).
_REQUIRED = ("id", "facility", "type", "customer", "createdAt", "createdBy", "customerType")
_TEXT = ("id", "facility", "type", "customer", "createdBy", "finalizedBy", "customerType",
         "customerSubtype")  # fmt: skip
Record = TypeVar("Record", Facility, Organization, InsuranceContract, Invoice, InvoiceItem)


def export_state(store: MycureStore) -> dict[str, Any]:
    """Reference records, accounts and statements in insertion order (a find without `$sort`
    answers in that order), and the id generator's position."""
    ref = store.reference
    return {
        # The store keeps its id source private so that only it draws ids; a snapshot must
        # carry the source's position all the same.
        "ids": rng_to_json(store._ids),
        "facilities": [to_json(record) for record in ref.facilities.values()],
        "organizations": [to_json(record) for record in ref.organizations.values()],
        "contracts": [to_json(record) for record in ref.contracts.values()],
        "invoices": [to_json(record) for record in ref.invoices.values()],
        "invoice_items": [to_json(record) for record in ref.invoice_items.values()],
        "accounts": [to_json(account) for account in store.accounts.values()],
        "soas": to_json(list(store.soas.values())),
    }


def served_records(store: MycureStore) -> dict[str, Served]:
    """The statements in insertion order, each as `GET /billing-soas/{id}` answers it (a
    statement is kept as it is served); newest by `createdAt`."""
    return {"billing-soas": Served(store.soas.values(), _as_kept, _created_at)}


def _created_at(record: Any) -> Any:
    return record["createdAt"]


def _as_kept(record: Any) -> Any:
    return record


def import_state(tenant: Tenant, data: Any) -> MycureStore:
    """A store holding exactly what `data` says, or a `BadRequest` naming what is wrong."""
    given = obj(data, PATH, SECTIONS)
    reference = Reference(
        facilities=_table(given, "facilities", Facility),
        organizations=_table(given, "organizations", Organization),
        contracts=_table(given, "contracts", InsuranceContract),
        invoices=_table(given, "invoices", Invoice),
        invoice_items=_table(given, "invoice_items", InvoiceItem),
    )
    _check_reference(reference)
    store = MycureStore(
        tenant.id, reference, rng_from_json(given["ids"], f"{PATH}.ids"), tenant.clock
    )
    store.accounts = table(given["accounts"], f"{PATH}.accounts", _account, "uid")
    soas = table(
        given["soas"],
        f"{PATH}.soas",
        lambda value, path: _soa(value, path, store),
        "id",
    )
    for record in soas.values():
        store.add(record)
    return store


def _table(given: dict[str, Any], name: str, kind: type[Record]) -> dict[str, Record]:
    def read(value: Any, path: str) -> Record:
        return from_json(kind, value, path)

    return table(given[name], f"{PATH}.{name}", read, "id")


def _check_reference(ref: Reference) -> None:
    for index, contract in enumerate(ref.contracts.values()):
        path = f"{PATH}.contracts[{index}]"
        with about(path, contract.id):
            known(contract.insured, ref.facilities, f"{path}.insured", "facility")
            known(contract.insurer, ref.organizations, f"{path}.insurer", "organization")
    for index, invoice in enumerate(ref.invoices.values()):
        path = f"{PATH}.invoices[{index}]"
        with about(path, invoice.id):
            known(invoice.facility, ref.facilities, f"{path}.facility", "facility")
            for n, item_id in enumerate(invoice.items):
                known(item_id, ref.invoice_items, f"{path}.items[{n}]", "invoice item")
    for index, item in enumerate(ref.invoice_items.values()):
        path = f"{PATH}.invoice_items[{index}]"
        with about(path, item.id):
            known(item.invoice, ref.invoices, f"{path}.invoice", "invoice")
            known(item.facility, ref.facilities, f"{path}.facility", "facility")
            if item.contract is not None:
                known(item.contract, ref.contracts, f"{path}.contract", "insurance contract")


def _account(value: Any, path: str) -> Account:
    account = from_json(Account, value, path)
    # Sign-in finds an account by the uid its email hashes to; any other uid is unreachable.
    if account.uid != uid_for(account.email):
        raise invalid(f"{path}.uid", f"is not the uid of {account.email!r}")
    return account


def _soa(value: Any, path: str, store: MycureStore) -> dict[str, Any]:
    """A statement as served: documented fields of the right types, naming a facility and a
    customer of this organisation, with the customer types that customer has."""
    record = obj(value, path, _REQUIRED, [name for name in SOA_FIELDS if name not in _REQUIRED])
    for name in _TEXT:
        if name in record:
            typed(record[name], str, f"{path}.{name}")
    for name in FIELD_TYPES:
        if name in record:
            typed(record[name], float, f"{path}.{name}")  # int or float, as find compares them
    ref = store.reference
    known(record["facility"], ref.facilities, f"{path}.facility", "facility")
    if record["type"] == "insurance-contract":
        known(record["customer"], ref.contracts, f"{path}.customer", "insurance contract")
    elif record["type"] == "organization":
        known(record["customer"], ref.organizations, f"{path}.customer", "organization")
    else:
        raise invalid(f"{path}.type", "expected organization or insurance-contract")
    kind, subkind = store.customer_types(record["type"], record["customer"])
    if (record["customerType"], record.get("customerSubtype")) != (kind, subkind):
        raise invalid(
            f"{path}.customerType",
            f"the customer {record['customer']} is {kind}/{subkind}, not "
            f"{record['customerType']}/{record.get('customerSubtype')}",
        )
    return dict(record)
