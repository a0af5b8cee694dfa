"""Deterministic seed data for a Decoda tenant, replayed through the store's own rules so that
every status is explained by the money that moved."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from billing_sandbox.apis.decoda.alerts import describer
from billing_sandbox.apis.decoda.installments import settle_due
from billing_sandbox.apis.decoda.records import CatalogueItem, Patient
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.clock import ManualClock
from billing_sandbox.spec.document import load_yaml
from billing_sandbox.tenants.tenant import Tenant

# Seed records are dated in the year before this instant, never relative to today.
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CATALOGUE = (
    ("Initial consultation", 15000, "Visits"), ("Follow-up visit", 9000, "Visits"),
    ("Telehealth check-in", 6000, "Visits"), ("Comprehensive lab panel", 12500, "Labs"),
    ("Lipid panel", 4500, "Labs"), ("B12 injection", 3500, "Injections"),
    ("IV hydration", 17500, "Infusions"), ("Body composition scan", 8000, "Diagnostics"),
    ("Nutrition coaching session", 7500, "Coaching"),
    ("Weight management program", 45000, "Programs"),
)  # fmt: skip
REASONS = ("Courtesy discount", "Pricing correction", "Insurance adjustment", "Duplicate line")
# Each seeded charge follows one of these stories; cycling through them covers every status.
STORIES = (
    "unpaid", "part_cash", "card", "cash", "refunded", "part_refund", "written_off",
    "adjusted", "plan", "void", "ach_return", "plan_cancelled",
)  # fmt: skip


def new_store(tenant: Tenant) -> DecodaStore:
    fake = tenant.faker("decoda")
    rng = fake.random
    store = DecodaStore(
        ids=tenant.random("decoda"), clock=ManualClock(SEED_EPOCH - timedelta(days=365))
    )
    folder = tenant.settings.fixtures_dir / "decoda"
    _load_reference(store, folder)
    for name, price, category in CATALOGUE:
        store.add_item(name, price, category=category)
    for _ in range(max(8, tenant.settings.records // 10)):
        _tick(store, rng, hours=12)
        store.add_patient(_patient(store, fake))
    _replay_fixture_charges(store, folder)
    patients = [p for p in store.patients if not p.startswith("pat_sandbox")]
    items = [i for i in store.items if not i.startswith("item_sandbox")]
    for index in range(max(len(STORIES), tenant.settings.records // 2)):
        _tick(store, rng, hours=6)
        _charge_story(store, rng, STORIES[index % len(STORIES)], rng.choice(patients), items)
    # Installments that fell due while the seed's clock ran were taken, as they would have been.
    settle_due(store, store.clock.now().date(), lambda plan, installment: False)
    store.clock = tenant.clock
    store.hooks.describe = describer(store)
    return store


def _tick(store: DecodaStore, rng: random.Random, hours: int) -> None:
    clock = store.clock
    if not isinstance(clock, ManualClock):  # an assert would vanish under `python -O`
        raise TypeError("seeding runs on a store's manual clock")
    clock.advance(timedelta(minutes=rng.randint(1, hours * 60)))


def _load_reference(store: DecodaStore, folder: Path) -> None:
    now = store.clock.now()
    for entry in load_yaml((folder / "patients.yaml").read_text()):
        store.add_patient(Patient(created_date=now, **entry))
    for entry in load_yaml((folder / "items.yaml").read_text()):
        store.items[entry["id"]] = CatalogueItem(**entry)


def _replay_fixture_charges(store: DecodaStore, folder: Path) -> None:
    for entry in load_yaml((folder / "charges.yaml").read_text()):
        store.open_charge(
            entry["patient_id"], entry.get("balance"), entry.get("lines", []), None,
            charge_id=entry["id"],
            description=entry.get("description"),
        )  # fmt: skip
        for payment in entry.get("payments", []):
            store.settle_externally(
                [entry["id"]], payment["amount"], payment["medium"], 0, None, payment["id"]
            )


def _patient(store: DecodaStore, fake: Faker) -> Patient:
    return Patient(
        id=store.new_id("pat"),
        created_date=store.clock.now(),
        first_name=fake.first_name(),
        last_name=fake.last_name(),
        email=fake.email(),
        phone_number=fake.numerify("+1555#######"),
        external_id=fake.bothify("EMR-#####"),
        date_of_birth=_date_of_birth(fake).isoformat(),
        gender=fake.random.choice(("female", "male", "non-binary")),
        city=fake.city(),
        state=fake.state_abbr(include_territories=False),
        zip_code=fake.zipcode(),
        country="US",
        patient_source="SEED_DATA",
    )


def _date_of_birth(fake: Faker) -> date:
    """An adult's birth date (18 to 85 at the seed epoch). Faker's `date_of_birth` counts from
    today, so the same seed gave other dates on other days."""
    epoch = SEED_EPOCH.date()
    start = epoch.replace(year=epoch.year - 86)
    end = epoch.replace(year=epoch.year - 18)
    return fake.date_time_ad(start_datetime=start, end_datetime=end).date()


def _charge_story(
    store: DecodaStore, rng: random.Random, story: str, patient_id: str, items: list[str]
) -> None:
    """Open a charge and move money against it as `story` says."""
    lines: list[dict[str, Any]] = []
    for item_id in rng.sample(items, rng.randint(1, 3)):
        item = store.items[item_id]
        line: dict[str, Any] = {"item_id": item.id, "name": item.name, "price": item.price,
                                "quantity": rng.randint(1, 2)}  # fmt: skip
        if rng.random() < 0.2:
            line["discount_percentage"] = rng.choice((5.0, 10.0, 15.0))
        lines.append(line)
    if rng.random() < 0.25:
        lines = []  # a plain balance, as many integrations post
    # Itemised charges owe their whole total (None); plain balances owe what they say.
    balance = None if lines else rng.randint(20, 400) * 100
    charge = store.open_charge(patient_id, balance, lines, None)
    owed = charge.total_outstanding
    _tick(store, rng, hours=48)
    if story == "part_cash":
        store.settle_externally([charge.id], owed // 2, rng.choice(("CASH", "CHECK")), 0, None)
    elif story in ("card", "refunded", "part_refund", "void"):
        paid = owed if story != "void" else owed // 3
        payment = store.take_card_payment([charge.id], paid)
        _tick(store, rng, hours=72)
        if story == "refunded":
            store.refund(payment.id, paid, "DUPLICATE")
        elif story == "part_refund":
            store.refund(payment.id, paid // 4, "OTHER", description="Partial goodwill refund")
        elif story == "void":
            store.void(charge.id)
    elif story == "cash":
        store.settle_externally(
            [charge.id], owed, rng.choice(("CASH", "CARE_CREDIT", "Venmo")), 0, None
        )
    elif story == "written_off":
        store.write_off(charge.id, "Uncollectible after 120 days")
    elif story == "adjusted":
        store.adjust(charge.id, -(owed // 5), rng.choice(REASONS))
        _tick(store, rng, hours=24)
        store.take_card_payment([charge.id], store.charges[charge.id].total_outstanding)
    elif story in ("plan", "plan_cancelled"):
        count = rng.choice((3, 4, 6))
        frequency = rng.choice(("WEEKLY", "MONTHLY"))
        installment = -(-owed // count)  # rounded up, so the installments cover what is owed
        store.start_plan(
            [charge.id], [charge.id], 0, count, installment, frequency, None, store.new_id("pm")
        )
        if story == "plan_cancelled":
            _tick(store, rng, hours=48)
            store.cancel_plan(charge.id)
    elif story == "ach_return":
        payment = store.settle_externally([charge.id], owed, "CHECK", 0, None)
        _tick(store, rng, hours=96)
        store.fail_payment(payment.id, "R01: insufficient funds")
