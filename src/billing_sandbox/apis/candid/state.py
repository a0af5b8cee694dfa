"""A Candid tenant's store as a snapshot (plain JSON) and back, checked before it is trusted."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.candid.paging import PageTokens
from billing_sandbox.apis.candid.records import BalanceAdjustment, Claim, ReferenceData, WriteOff
from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.apis.candid.timestamps import sort_micros
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

PATH = "apis.candid"
SECTIONS = (
    "ids",
    "claims",
    "service_lines",
    "payers",
    "non_insurance_payers",
    "adjustments",
    "write_offs",
)
# What each write-off variant carries besides the fields all of them have.
_COMMON = ("type", "write_off_id", "write_off_timestamp", "write_off_reason", "amount_cents")
_VARIANT = {
    "patient": ("patient_external_id", "claim_id", "service_line_id"),
    "insurance": ("payer", "write_off_target"),
    "non_insurance_payer": ("non_insurance_payer", "service_line_id"),
}
# The reversal links may name a write-off the snapshot lacks: recorded answers (`serve
# --recordings`) can show a reversal without its original.
_OPTIONAL = (
    "write_off_note",
    "custom_write_off_reason",
    "reverts_write_off_id",
    "reverted_by_write_off_id",
)
_TEXT = (
    "write_off_id",
    "write_off_timestamp",
    "write_off_reason",
    "patient_external_id",
    "claim_id",
    "service_line_id",
    *_OPTIONAL,
)


def export_state(store: CandidStore) -> dict[str, Any]:
    """Every record in insertion order, and the id generator's position. Service lines name
    only their claim (the rest is the claim's); indexes are rebuilt on import."""
    ref = store.reference
    return {
        # The store keeps its id source private so that only it draws ids; a snapshot must
        # carry the source's position all the same.
        "ids": rng_to_json(store._ids),
        "claims": [to_json(claim) for claim in ref.claims.values()],
        "service_lines": [
            {"service_line_id": line.service_line_id, "claim_id": line.claim_id}
            for line in ref.service_lines.values()
        ],
        "payers": to_json(list(ref.payers.values())),
        "non_insurance_payers": to_json(list(ref.non_insurance_payers.values())),
        "adjustments": [to_json(adjustment) for adjustment in ref.adjustments.values()],
        "write_offs": to_json(store.all_write_offs()),
    }


def served_records(store: CandidStore) -> dict[str, Served]:
    """The write-offs, in the order they were made, each as `GET /api/write-offs/v1/{id}`
    answers it (a write-off is kept as it is served); newest by `write_off_timestamp`, the
    one date a write-off holds."""
    return {"write-offs": Served(store.all_write_offs(), _as_kept, _written_off)}


def _written_off(record: WriteOff) -> int:
    return sort_micros(record["write_off_timestamp"])


def _as_kept(record: Any) -> Any:
    return record


def import_state(tenant: Tenant, data: Any) -> CandidStore:
    """A store holding exactly what `data` says, or a `BadRequest` naming what is wrong."""
    given = obj(data, PATH, SECTIONS)
    reference = _reference(given)
    write_offs = table(
        given["write_offs"],
        f"{PATH}.write_offs",
        lambda value, path: _write_off(value, path, reference),
        "write_off_id",
    )
    store = CandidStore(
        reference,
        ids=rng_from_json(given["ids"], f"{PATH}.ids"),
        clock=tenant.clock,
        tokens=PageTokens(tenant.settings.secret, tenant.id),
    )
    store.load(list(write_offs.values()))
    return store


def _reference(given: dict[str, Any]) -> ReferenceData:
    reference = ReferenceData()
    claims = table(
        given["claims"],
        f"{PATH}.claims",
        lambda value, path: from_json(Claim, value, path),
        "claim_id",
    )
    for claim in claims.values():
        reference.add_claim(claim)
    lines = table(
        given["service_lines"],
        f"{PATH}.service_lines",
        _service_line,
        "service_line_id",
    )
    for index, line in enumerate(lines.values()):
        path = f"{PATH}.service_lines[{index}]"
        with about(path, line["service_line_id"]):
            known(line["claim_id"], reference.claims, f"{path}.claim_id", "claim")
        reference.add_service_line(line["service_line_id"], line["claim_id"])
    reference.payers = table(
        given["payers"],
        f"{PATH}.payers",
        lambda value, path: _with_text_id(value, path, "payer_uuid", ("payer_id", "payer_name")),
        "payer_uuid",
    )
    reference.non_insurance_payers = table(
        given["non_insurance_payers"],
        f"{PATH}.non_insurance_payers",
        lambda value, path: _with_text_id(value, path, "non_insurance_payer_id", ("name",)),
        "non_insurance_payer_id",
    )
    reference.adjustments = table(
        given["adjustments"],
        f"{PATH}.adjustments",
        lambda value, path: _adjustment(value, path, reference),
        "adjustment_id",
    )
    return reference


def _service_line(value: Any, path: str) -> dict[str, Any]:
    line = obj(value, path, ("service_line_id", "claim_id"))
    for name in line:
        typed(line[name], str, f"{path}.{name}")
    return dict(line)


def _with_text_id(value: Any, path: str, id_field: str, text: tuple[str, ...]) -> Any:
    """A payer-like record: vendor-shaped JSON whose id and names must be there, as text."""
    record = obj(value, path, (id_field, *text), extra=True)
    for name in (id_field, *text):
        typed(record[name], str, f"{path}.{name}")
    return record


def _adjustment(value: Any, path: str, reference: ReferenceData) -> BalanceAdjustment:
    adjustment = from_json(BalanceAdjustment, value, path)
    known(adjustment.payer_uuid, reference.payers, f"{path}.payer_uuid", "payer")
    known(
        adjustment.service_line_id,
        reference.service_lines,
        f"{path}.service_line_id",
        "service line",
    )
    return adjustment


def _write_off(value: Any, path: str, reference: ReferenceData) -> WriteOff:
    """One write-off: the fields of its variant, of the right types, naming records that exist
    (its filters are indexed through them)."""
    head = obj(value, path, ("type",), extra=True)
    kind = typed(head["type"], str, f"{path}.type")
    if kind not in _VARIANT:
        raise invalid(f"{path}.type", f"expected one of {', '.join(_VARIANT)}, got {kind!r}")
    record: WriteOff = obj(value, path, (*_COMMON, *_VARIANT[kind]), _OPTIONAL)
    for name in _TEXT:
        if name in record:
            typed(record[name], str, f"{path}.{name}")
    typed(record["amount_cents"], int, f"{path}.amount_cents")
    try:
        sort_micros(record["write_off_timestamp"])
    except ValueError as error:
        raise invalid(f"{path}.write_off_timestamp", str(error)) from None
    if kind == "insurance":
        payer = obj(record["payer"], f"{path}.payer", ("payer_uuid",), extra=True)
        known(payer["payer_uuid"], reference.payers, f"{path}.payer.payer_uuid", "payer")
        _target(record["write_off_target"], f"{path}.write_off_target", reference)
        return record
    line_path = f"{path}.service_line_id"
    known(record["service_line_id"], reference.service_lines, line_path, "service line")
    if kind == "non_insurance_payer":
        sponsor_path = f"{path}.non_insurance_payer"
        sponsor = obj(
            record["non_insurance_payer"], sponsor_path, ("non_insurance_payer_id",), extra=True
        )
        known(
            sponsor["non_insurance_payer_id"],
            reference.non_insurance_payers,
            f"{sponsor_path}.non_insurance_payer_id",
            "non-insurance payer",
        )
        return record
    line = reference.service_lines[record["service_line_id"]]
    for name in ("claim_id", "patient_external_id"):
        if record[name] != getattr(line, name):
            raise invalid(
                f"{path}.{name}",
                f"is {record[name]!r}, but service line {line.service_line_id} has "
                f"{getattr(line, name)!r}",
            )
    return record


def _target(value: Any, path: str, reference: ReferenceData) -> None:
    target = obj(value, path, ("type", "value"))
    kinds: dict[str, Any] = {
        "service_line_id": reference.service_lines,
        "claim_id": reference.claims,
        "billing_provider_id": reference.billing_provider_ids,
    }
    if typed(target["type"], str, f"{path}.type") not in kinds:
        raise invalid(f"{path}.type", f"expected one of {', '.join(kinds)}")
    entity = target["type"].removesuffix("_id").replace("_", " ")
    known(target["value"], kinds[target["type"]], f"{path}.value", entity)
