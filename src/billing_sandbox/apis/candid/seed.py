"""Deterministic seed data for a Candid tenant: curated fixtures plus Faker-made records."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from billing_sandbox.apis.candid.ids import uuid4_text
from billing_sandbox.apis.candid.paging import PageTokens
from billing_sandbox.apis.candid.records import BalanceAdjustment, Claim, ReferenceData, WriteOff
from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.apis.candid.timestamps import render
from billing_sandbox.spec.document import load_yaml
from billing_sandbox.tenants.tenant import Tenant

# Seed timestamps lie in the year before this instant, so they never depend on today's date.
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

PATIENT_REASONS = (
    "SMALL_BALANCE",
    "CHARITY_OR_FINANCIAL_ASSISTANCE",
    "PATIENT_EXPERIENCE_OR_SERVICE_RECOVERY",
    "OON_COURTESY_ADJUSTMENT",
    "PROMPT_PAY_DISCOUNT",
    "BAD_DEBT",
    "COLLECTION_AGENCY",
    "OTHER",
    "UNCOLLECTIBLE_OR_NON_BILLABLE",
    "DECEASED",
    "BANKRUPTCY",
)
INSURANCE_REASONS = (
    "SMALL_BALANCE",
    "OON_WRITE_OFF",
    "NO_AUTHORIZATION_REFERRAL",
    "TIMELY_FILING",
    "STALE_DATE",
    "CREDENTIALING_OR_CONTRACTING",
    "NON_COVERED_MAX_BENEFIT",
    "NOT_MEDICALLY_NECESSARY",
    "BUNDLED_OR_INCLUSIVE",
    "EFFORTS_EXHAUSTED",
    "ADMINISTRATIVE_WRITE_OFF",
    "CASE_RATE_OR_CAPITATED",
    "OTHER",
    "CONTRACTUAL_ADJUSTMENT",
    "PRIMARY_PAID_MAX_BENEFITS",
)
NOTES = (
    "Balance below statement threshold",
    "Approved by billing manager",
    "Financial assistance application approved",
    "Courtesy adjustment after complaint",
    "Prompt pay discount applied",
    "Sent to collections, uncollectible",
    "Timely filing limit missed",
    "Contractual adjustment per fee schedule",
    "Authorization not obtained",
    "Bundled into primary procedure",
    "Appeal exhausted",
    "Duplicate balance cleanup",
)
PAYER_SUFFIXES = ("Health Plan", "Mutual", "Insurance Company", "Benefit Administrators", "Care")
SPONSOR_CATEGORIES = ("Employer", "Clinical trial sponsor", "Grant program", "County program")


def new_store(tenant: Tenant) -> CandidStore:
    """Build a tenant's store: fixtures first (fixed ids), then `records` seeded write-offs."""
    fake = tenant.faker("candid")
    rng = fake.random
    fixtures = _read_fixtures(tenant.settings.fixtures_dir / "candid")
    reference = ReferenceData()
    _add_fixture_reference(reference, fixtures)
    _seed_reference(reference, fake, rng, tenant.settings.records)
    store = CandidStore(
        reference,
        ids=tenant.random("candid"),
        clock=tenant.clock,
        tokens=PageTokens(tenant.settings.secret, tenant.id),
    )
    curated = fixtures["write-offs"]
    store.load(curated)
    store.load(_seed_write_offs(reference, rng, tenant.settings.records - len(curated)))
    return store


def _read_fixtures(folder: Path) -> dict[str, list[dict[str, Any]]]:
    names = ("claims", "payers", "non-insurance-payers", "adjustments", "write-offs")
    return {name: load_yaml((folder / f"{name}.yaml").read_text()) or [] for name in names}


def _add_fixture_reference(reference: ReferenceData, fixtures: dict[str, list[Any]]) -> None:
    for entry in fixtures["claims"]:
        claim = Claim(entry["claim_id"], entry["patient_external_id"], entry["billing_provider_id"])
        reference.add_claim(claim)
        for line_id in entry["service_line_ids"]:
            reference.add_service_line(line_id, claim.claim_id)
    for payer in fixtures["payers"]:
        reference.payers[payer["payer_uuid"]] = payer
    for payer in fixtures["non-insurance-payers"]:
        reference.non_insurance_payers[payer["non_insurance_payer_id"]] = payer
    for entry in fixtures["adjustments"]:
        reference.adjustments[entry["adjustment_id"]] = BalanceAdjustment(**entry)


def _seed_reference(
    reference: ReferenceData, fake: Faker, rng: random.Random, records: int
) -> None:
    providers = [_uuid(rng) for _ in range(max(3, records // 50))]
    patients = [f"MRN-{rng.randrange(10**6):06d}" for _ in range(max(6, records // 8))]
    for _ in range(max(8, records // 4)):
        claim = Claim(_uuid(rng), rng.choice(patients), rng.choice(providers))
        reference.add_claim(claim)
        for _ in range(rng.randint(1, 3)):
            reference.add_service_line(_uuid(rng), claim.claim_id)
    for _ in range(max(6, min(40, records // 20))):
        payer = _payer(fake, rng)
        reference.payers[payer["payer_uuid"]] = payer
    for _ in range(max(3, min(20, records // 50))):
        sponsor = _non_insurance_payer(fake, rng)
        reference.non_insurance_payers[sponsor["non_insurance_payer_id"]] = sponsor
    lines = list(reference.service_lines)
    payer_ids = list(reference.payers)
    for index in range(max(6, records // 20)):
        adjustment = BalanceAdjustment(
            adjustment_id=_uuid(rng),
            era_originated=index % 2 == 1,
            payer_uuid=rng.choice(payer_ids),
            service_line_id=rng.choice(lines),
            amount_cents=rng.randint(100, 90_000),
        )
        reference.adjustments[adjustment.adjustment_id] = adjustment


def _payer(fake: Faker, rng: random.Random) -> dict[str, Any]:
    name = f"{fake.last_name()} {rng.choice(PAYER_SUFFIXES)}"
    payer_id = f"{rng.randrange(10**5):05d}"
    payer: dict[str, Any] = {"payer_uuid": _uuid(rng), "payer_id": payer_id, "payer_name": name}
    if rng.random() < 0.7:
        payer["availity_payer_name"] = name.upper()
        payer["availity_claims_payer_id"] = payer_id
    payer["street_address"] = {
        "address1": fake.street_address(),
        "city": fake.city(),
        "state": fake.state_abbr(include_territories=False),
        "zip_code": fake.zipcode(),
        "zip_plus_four_code": f"{rng.randrange(10**4):04d}",
    }
    return payer


def _non_insurance_payer(fake: Faker, rng: random.Random) -> dict[str, Any]:
    sponsor_id = _uuid(rng)
    category = rng.choice(SPONSOR_CATEGORIES)
    trials = []
    if category == "Clinical trial sponsor":
        trials = [
            {
                "name": f"{fake.last_name().upper()}-{rng.randrange(100, 999)}",
                "clinical_trial_number": f"NCT{rng.randrange(10**5):05d}",
                "clinical_trial_phase": rng.choice(("Phase 1", "Phase 2", "Phase 3")),
                "clinical_trial_id": _uuid(rng),
                "non_insurance_payer_id": sponsor_id,
                "is_active": rng.random() < 0.8,
            }
            for _ in range(rng.randint(1, 2))
        ]
    return {
        "non_insurance_payer_id": sponsor_id,
        "name": fake.company(),
        "category": category,
        "enabled": rng.random() < 0.9,
        "address": {
            "address1": fake.street_address(),
            "city": fake.city(),
            "state": fake.state_abbr(include_territories=False),
            "zip_code": fake.zipcode(),
        },
        "clinical_trials": trials,
    }


def _seed_write_offs(reference: ReferenceData, rng: random.Random, count: int) -> list[WriteOff]:
    """`count` write-offs over all three variants; about one in twenty has been reverted."""
    lines = list(reference.service_lines.values())
    claims = list(reference.claims)
    payers = list(reference.payers.values())
    sponsors = list(reference.non_insurance_payers.values())
    made: list[WriteOff] = []
    while len(made) < count:
        line = rng.choice(lines)
        moment = SEED_EPOCH - timedelta(seconds=rng.randrange(365 * 86_400))
        roll = rng.random()
        record: WriteOff
        if roll < 0.45:
            record = {
                "type": "patient",
                "write_off_reason": rng.choice(PATIENT_REASONS),
                "patient_external_id": line.patient_external_id,
                "claim_id": line.claim_id,
                "service_line_id": line.service_line_id,
            }
        elif roll < 0.85:
            target_kind = rng.choices(
                ("service_line_id", "claim_id", "billing_provider_id"), (7, 2, 1)
            )[0]
            target = {
                "service_line_id": line.service_line_id,
                "claim_id": rng.choice(claims),
                "billing_provider_id": rng.choice(reference.billing_provider_ids),
            }[target_kind]
            record = {
                "type": "insurance",
                "payer": rng.choice(payers),
                "write_off_target": {"type": target_kind, "value": target},
                "write_off_reason": rng.choice(INSURANCE_REASONS),
            }
        else:
            record = {
                "type": "non_insurance_payer",
                "non_insurance_payer": rng.choice(sponsors),
                "service_line_id": line.service_line_id,
                "write_off_reason": rng.choice(INSURANCE_REASONS),
            }
        record.update(
            write_off_id=_uuid(rng),
            write_off_timestamp=render(moment),
            amount_cents=rng.randint(100, 250_000),
        )
        if rng.random() < 0.6:
            record["write_off_note"] = rng.choice(NOTES)
        made.append(record)
        if rng.random() < 0.05 and len(made) < count:
            made.append(_reversal(record, rng, moment))
    return made


def _reversal(original: WriteOff, rng: random.Random, moment: datetime) -> WriteOff:
    reversal = {**original, "write_off_id": _uuid(rng), "amount_cents": -original["amount_cents"]}
    reversal["write_off_timestamp"] = render(moment + timedelta(hours=rng.randint(1, 240)))
    reversal["reverts_write_off_id"] = original["write_off_id"]
    original["reverted_by_write_off_id"] = reversal["write_off_id"]
    return reversal


def _uuid(rng: random.Random) -> str:
    return uuid4_text(rng.getrandbits(128))
