"""Recorded Candid answers as seed data: the write-offs they show, and what those point at."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from billing_sandbox.apis.candid.records import Claim, ReferenceData, WriteOff
from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.recordings import Exchange, Notice

# The answers that show write-offs: one, a page of them, the created ones, a reversal.
RECORDED_OPERATIONS = frozenset(
    {"getWriteOff", "getWriteOffs", "createWriteOffs", "revertWriteOff"}
)
# Facts a recording implies but never shows (the billing provider of a claim, the claim of a
# service line seen only as a target) are derived from what it shows, never drawn at random,
# so the same recordings give the same store everywhere.
_DERIVED = uuid.UUID("5e1f0000-0000-4000-8000-00000000feed")


def load_recorded(store: CandidStore, exchanges: Sequence[Exchange]) -> list[Notice]:
    """Every write-off the answers show, the latest answer about each winning."""
    skipped: list[Notice] = []
    for exchange in exchanges:
        for record in write_offs_in(exchange):
            problem = _take(store, record)
            if problem is not None:
                skipped.append(Notice(exchange.source, problem))
    return skipped


def write_offs_in(exchange: Exchange) -> list[WriteOff]:
    """The write-offs in one recorded answer (its body has already matched the spec)."""
    body: Any = exchange.response.body
    if exchange.operation_id == "getWriteOffs":
        return list(body["items"])
    if exchange.operation_id == "createWriteOffs":
        return list(body["write_offs"])
    return [body]


def _take(store: CandidStore, record: WriteOff) -> str | None:
    """Store one recorded write-off and the reference records it implies; or say why not,
    having changed nothing."""
    additions = _Additions()
    problem = _implied(store.reference, record, additions)
    if problem is not None:
        return f"write-off {record['write_off_id']}: {problem}"
    additions.merge_into(store.reference)
    store.put(dict(record))
    original = store.find(record.get("reverts_write_off_id"))
    if original is not None and "reverted_by_write_off_id" not in original:
        # A revert changes its original too, as a later GET of the original would show.
        store.put({**original, "reverted_by_write_off_id": record["write_off_id"]})
    return None


@dataclass
class _Additions:
    """Reference records one write-off needs and the store lacks, added only if all is well."""

    claims: dict[str, Claim] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)  # service line id -> claim id
    providers: list[str] = field(default_factory=list)
    payers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sponsors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def merge_into(self, ref: ReferenceData) -> None:
        for claim in self.claims.values():
            ref.add_claim(claim)
        for line_id, claim_id in self.lines.items():
            ref.add_service_line(line_id, claim_id)
        for provider in self.providers:
            if provider not in ref.billing_provider_ids:
                ref.billing_provider_ids.append(provider)
        ref.payers.update(self.payers)
        ref.non_insurance_payers.update(self.sponsors)


def _implied(ref: ReferenceData, record: WriteOff, new: _Additions) -> str | None:
    """Collect into `new` what `record` needs that `ref` lacks; a contradiction is a problem."""
    kind = record["type"]
    if kind == "patient":
        return _patient_line(ref, record, new)
    if kind == "insurance":
        payer = record["payer"]
        if payer["payer_uuid"] not in ref.payers:
            new.payers[payer["payer_uuid"]] = dict(payer)
        target = record["write_off_target"]
        if target["type"] == "service_line_id":
            _any_line(ref, target["value"], new)
        elif target["type"] == "claim_id":
            _any_claim(ref, target["value"], new)
        elif target["value"] not in ref.billing_provider_ids:
            new.providers.append(target["value"])
        return None
    sponsor = record["non_insurance_payer"]
    if sponsor["non_insurance_payer_id"] not in ref.non_insurance_payers:
        new.sponsors[sponsor["non_insurance_payer_id"]] = dict(sponsor)
    _any_line(ref, record["service_line_id"], new)
    return None


def _patient_line(ref: ReferenceData, record: WriteOff, new: _Additions) -> str | None:
    """A patient write-off shows its line's claim and patient: they must agree with ours."""
    line_id, claim_id = record["service_line_id"], record["claim_id"]
    patient = record["patient_external_id"]
    line = ref.service_lines.get(line_id)
    if line is not None:
        if (line.claim_id, line.patient_external_id) != (claim_id, patient):
            return (
                f"service line {line_id} is seeded here on claim {line.claim_id} of patient "
                f"{line.patient_external_id!r}; the recording says claim {claim_id} of "
                f"{patient!r}"
            )
        return None
    claim = ref.claims.get(claim_id)
    if claim is None:
        new.claims[claim_id] = Claim(claim_id, patient, _derive("billing-provider", claim_id))
    elif claim.patient_external_id != patient:
        return (
            f"claim {claim_id} is seeded here for patient {claim.patient_external_id!r}; the "
            f"recording says {patient!r}"
        )
    new.lines[line_id] = claim_id
    return None


def _any_line(ref: ReferenceData, line_id: str, new: _Additions) -> None:
    """A service line seen only by its id: on a claim of its own, derived from the id."""
    if line_id in ref.service_lines:
        return
    claim_id = _derive("claim", line_id)
    _any_claim(ref, claim_id, new)
    new.lines[line_id] = claim_id


def _any_claim(ref: ReferenceData, claim_id: str, new: _Additions) -> None:
    """A claim seen only by its id: its patient and billing provider derived from the id."""
    if claim_id in ref.claims:
        return
    patient = f"UNRECORDED-{_derive('patient', claim_id)[:8].upper()}"
    new.claims[claim_id] = Claim(claim_id, patient, _derive("billing-provider", claim_id))


def _derive(kind: str, of: str) -> str:
    return str(uuid.uuid5(_DERIVED, f"{kind}:{of}"))
