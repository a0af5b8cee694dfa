"""How Candid serves each kind of record a snapshot holds, so an import checks them all."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter, itemgetter
from typing import Any

from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.tenants.tenant import Rendering

_UUID = "#/components/schemas/Uuid"


def renderings(store: CandidStore) -> Sequence[Rendering]:
    """Write-offs as `GET /api/write-offs/v1/{id}` answers; the reference records as the
    write-offs made later will carry them (a payer whole, a claim by its uuid), so that no
    create or revert after an import can break the spec."""
    ref = store.reference
    lines = ref.service_lines.values()
    line_id = attrgetter("service_line_id")
    claim_id = attrgetter("claim_id")
    # Records a write-off embeds come first, so that a problem is named where it is.
    return (
        Rendering("payers", ref.payers.values(), itemgetter("payer_uuid"),
                  "#/components/schemas/Payer", _as_kept),
        Rendering("non_insurance_payers", ref.non_insurance_payers.values(),
                  itemgetter("non_insurance_payer_id"),
                  "#/components/schemas/NonInsurancePayer", _as_kept),
        # A reversal serves the adjustment's amount negated, as a write-off's amount.
        Rendering("adjustments", ref.adjustments.values(), attrgetter("adjustment_id"),
                  "#/components/schemas/AmountCents", attrgetter("amount_cents"),
                  field="amount_cents"),
        Rendering("claims", ref.claims.values(), claim_id, _UUID, claim_id, field="claim_id"),
        Rendering("claims", ref.claims.values(), claim_id, _UUID,
                  attrgetter("billing_provider_id"), field="billing_provider_id"),
        Rendering("service_lines", lines, line_id, _UUID, line_id, field="service_line_id"),
        Rendering("write_offs", store.all_write_offs(), itemgetter("write_off_id"),
                  "getWriteOff", _as_kept),
    )  # fmt: skip


def _as_kept(record: Any) -> Any:
    return record
