"""Deterministic seed data for a MYCURE organisation: curated fixtures plus Faker-made records."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faker import Faker

from billing_sandbox.apis.mycure.records import (
    Account,
    Facility,
    InsuranceContract,
    Invoice,
    InvoiceItem,
    Organization,
    uid_for,
)
from billing_sandbox.apis.mycure.store import MycureStore, Reference
from billing_sandbox.spec.document import load_yaml
from billing_sandbox.tenants.tenant import Tenant

# Seed records are dated in the year before this instant, never relative to today.
SEED_EPOCH_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000
# Kinds of customer a Philippine clinic bills by statement of account.
CUSTOMER_KINDS = (("insurance", "hmo"), ("insurance", "government"), ("corporate-partner", None))
SERVICES = (
    ("Consultation", 800), ("Follow-up consultation", 500), ("Complete blood count", 350),
    ("Urinalysis", 150), ("Chest X-ray", 600), ("ECG", 700), ("Lipid profile", 900),
    ("Annual physical examination", 2500), ("Ultrasound, whole abdomen", 3200),
    ("Drug test", 450),
)  # fmt: skip
PAYMENT_TERMS = (15, 30, 45, 60)
NOTES = (
    "Please settle within the payment terms",
    "Includes annual physical examinations",
    "Resubmitted with corrected LOA numbers",
    "Employees' consultations for the period",
)


def new_store(tenant: Tenant) -> MycureStore:
    """Fixtures first (fixed ids), then Faker-made customers, invoices and statements."""
    fake = tenant.faker("mycure")
    rng = fake.random
    folder = tenant.settings.fixtures_dir / "mycure"
    fixtures = _read(folder / "reference.yaml")
    reference = Reference()
    _load_reference(reference, fixtures)
    store = MycureStore(tenant.id, reference, tenant.random("mycure"), tenant.clock)
    staff = [_account(store, f"{local}@{tenant.id}") for local in fixtures["accounts"]]
    _load_soas(store, _read(folder / "soas.yaml"), tenant.id)
    _seed_reference(store, fake, rng, max(4, tenant.settings.records // 25))
    for _ in range(max(10, tenant.settings.records // 5)):
        store.add(_soa(store, fake, rng, staff))
    return store


def _read(path: Path) -> Any:
    return load_yaml(path.read_text())


def _account(store: MycureStore, email: str) -> Account:
    uid = uid_for(email)
    store.accounts[uid] = Account(uid=uid, email=email, createdAt=SEED_EPOCH_MS - 365 * DAY_MS)
    return store.accounts[uid]


def _load_reference(reference: Reference, fixtures: dict[str, Any]) -> None:
    for row in fixtures["facilities"]:
        reference.facilities[row["id"]] = Facility(**row)
    for row in fixtures["organizations"]:
        reference.organizations[row["id"]] = Organization(**row)
    for row in fixtures["insuranceContracts"]:
        insurer = reference.organizations[row["insurer"]]
        reference.contracts[row["id"]] = InsuranceContract(**row, insurerName=insurer.name)
    for row in fixtures["invoices"]:
        items = [
            InvoiceItem(**item, invoice=row["id"], facility=row["facility"])
            for item in row["items"]
        ]
        reference.invoices[row["id"]] = Invoice(
            id=row["id"],
            facility=row["facility"],
            createdAt=row["createdAt"],
            items=tuple(item.id for item in items),
        )
        reference.invoice_items.update((item.id, item) for item in items)


def _load_soas(store: MycureStore, rows: list[dict[str, Any]], organisation: str) -> None:
    """Fixture statements; their customer types come from their customers, as on create."""
    for row in rows:
        record = dict(row)
        for stamp in ("createdBy", "finalizedBy"):
            if stamp in record:
                record[stamp] = uid_for(f"{record[stamp]}@{organisation}")
        kind, subkind = store.customer_types(record["type"], record["customer"])
        record["customerType"] = kind
        if subkind is not None:
            record["customerSubtype"] = subkind
        store.add(record)


def _seed_reference(store: MycureStore, fake: Faker, rng: random.Random, count: int) -> None:
    """More customers, contracts between them and the facilities, and invoices to bill."""
    ref = store.reference
    for _ in range(count):
        kind, subkind = rng.choice(CUSTOMER_KINDS)
        suffix = "Health Plans" if kind == "insurance" else "Inc."
        org = Organization(_seed_id(rng), f"{fake.last_name()} {suffix}", kind, subkind)
        ref.organizations[org.id] = org
        facility = rng.choice(list(ref.facilities))
        contract_type = (
            "insurance-facility" if kind == "insurance" else "corporate-partner-facility"
        )
        contract = InsuranceContract(_seed_id(rng), contract_type, facility, org.id, org.name)
        ref.contracts[contract.id] = contract
    contracts = list(ref.contracts.values())
    for _ in range(count * 4):
        created = SEED_EPOCH_MS - rng.randint(30, 330) * DAY_MS
        invoice_id = _seed_id(rng, created)
        contract = rng.choice(contracts)
        items = []
        for _ in range(rng.randint(1, 3)):
            name, price = rng.choice(SERVICES)
            covered = contract.id if rng.random() < 0.8 else None
            items.append(
                InvoiceItem(
                    _seed_id(rng, created), invoice_id, contract.insured, name, price, covered
                )
            )
        ref.invoices[invoice_id] = Invoice(
            invoice_id, contract.insured, created, tuple(item.id for item in items)
        )
        ref.invoice_items.update((item.id, item) for item in items)


def _soa(
    store: MycureStore, fake: Faker, rng: random.Random, staff: list[Account]
) -> dict[str, Any]:
    """A statement billing one contract's customer for a month of a facility's invoices."""
    ref = store.reference
    contract = rng.choice(list(ref.contracts.values()))
    by_contract = rng.random() < 0.5
    start = SEED_EPOCH_MS - rng.randint(2, 11) * 30 * DAY_MS
    end = start + 30 * DAY_MS - 1
    created = end + rng.randint(1, 10) * DAY_MS
    pool = [i for i in ref.invoices.values() if i.facility == contract.insured]
    invoices = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
    items = [
        item
        for invoice in invoices
        for item in invoice.items
        if ref.invoice_items[item].contract == contract.id
    ]
    customer = ref.organizations[contract.insurer]
    record: dict[str, Any] = {
        "id": _seed_id(rng, created),
        "facility": contract.insured,
        "type": "insurance-contract" if by_contract else "organization",
        "customer": contract.id if by_contract else customer.id,
        "externalSOAId": f"SOA-{fake.bothify('####-????').upper()}",
        "invoices": [invoice.id for invoice in invoices],
        "invoiceItems": items,
        "startAt": start,
        "endAt": end,
        "preparedAt": created,
        "paymentTerms": rng.choice(PAYMENT_TERMS),
        "coveragePaymentMethod": rng.choice(("prepaid", "postpaid")),
        "createdAt": created,
        "createdBy": staff[0].uid,
        "customerType": customer.type,
    }
    if customer.subtype is not None:
        record["customerSubtype"] = customer.subtype
    if customer.type == "insurance" and rng.random() < 0.5:
        record["LOANo"] = f"LOA-{fake.numerify('######')}"
    if rng.random() < 0.3:
        record["note"] = rng.choice(NOTES)
    if rng.random() < 0.5:
        record["finalizedAt"] = created + rng.randint(1, 5) * DAY_MS
        record["finalizedBy"] = staff[-1].uid
    return record


def _seed_id(rng: random.Random, at_ms: int = SEED_EPOCH_MS) -> str:
    """An ObjectId for seed data, drawn from the Faker stream (runtime ids use their own)."""
    return f"{at_ms // 1000:08x}{rng.getrandbits(64):016x}"
