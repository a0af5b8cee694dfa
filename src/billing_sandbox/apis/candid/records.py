"""Candid records: a write-off (a plain dict, in the order it is served), and the reference data
it points at (claims, service lines, payers, adjustments).

None of the reference data can be created through the write-offs API; it is seeded per tenant
and listed by `GET /_sandbox/tenants/{tenant}/reference/candid` so users can make valid calls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

WriteOff = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    patient_external_id: str
    billing_provider_id: str


@dataclass(frozen=True, slots=True)
class ServiceLine:
    service_line_id: str
    claim_id: str
    patient_external_id: str
    billing_provider_id: str


@dataclass(slots=True)
class BalanceAdjustment:
    """An insurance balance adjustment (from a payer's remittance when ERA-originated)."""

    adjustment_id: str
    era_originated: bool
    payer_uuid: str
    service_line_id: str
    amount_cents: int
    reverted: bool = False


@dataclass
class ReferenceData:
    """Everything a tenant's write-offs may refer to, indexed by id."""

    claims: dict[str, Claim] = field(default_factory=dict)
    service_lines: dict[str, ServiceLine] = field(default_factory=dict)
    billing_provider_ids: list[str] = field(default_factory=list)
    payers: dict[str, dict[str, Any]] = field(default_factory=dict)
    non_insurance_payers: dict[str, dict[str, Any]] = field(default_factory=dict)
    adjustments: dict[str, BalanceAdjustment] = field(default_factory=dict)

    def add_claim(self, claim: Claim) -> None:
        self.claims[claim.claim_id] = claim
        if claim.billing_provider_id not in self.billing_provider_ids:
            self.billing_provider_ids.append(claim.billing_provider_id)

    def add_service_line(self, service_line_id: str, claim_id: str) -> ServiceLine:
        claim = self.claims[claim_id]
        line = ServiceLine(
            service_line_id, claim_id, claim.patient_external_id, claim.billing_provider_id
        )
        self.service_lines[service_line_id] = line
        return line

    def payer_by_info(self, payer_id: str, payer_name: str) -> dict[str, Any] | None:
        for payer in self.payers.values():
            if payer["payer_id"] == payer_id and payer["payer_name"] == payer_name:
                return payer
        return None

    def as_json(self) -> dict[str, Any]:
        """The listing served by the control API (and part of the golden seed dump)."""
        return {
            "service_lines": [asdict(line) for line in self.service_lines.values()],
            "billing_provider_ids": list(self.billing_provider_ids),
            "payers": list(self.payers.values()),
            "non_insurance_payers": list(self.non_insurance_payers.values()),
            "insurance_balance_adjustments": [asdict(a) for a in self.adjustments.values()],
        }
