"""Recorded Decoda answers as seed data: the patients and charges they show, with their money."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from billing_sandbox.apis.decoda import render, render_v1
from billing_sandbox.apis.decoda.records import (
    Adjustment,
    CatalogueItem,
    Charge,
    Line,
    Patient,
    Payment,
    Refund,
)
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.recordings import Exchange, Notice

Json = dict[str, Any]
R = TypeVar("R", Patient, CatalogueItem, Line, Charge, Payment, Refund, Adjustment)
Names = tuple[str, ...]

_CHARGES = frozenset({"createCharge", "getCharge", "listCharges"})
# Legacy charge answers give their patient only: their lines show neither id nor price.
_LEGACY_CHARGES = frozenset({"createChargeV1", "getChargeV1", "listChargesV1"})
_PATIENTS = frozenset(
    {"createPatient", "getPatient", "createPatientV1", "getPatientV1", "listPatientsV1"}
)
RECORDED_OPERATIONS = _CHARGES | _LEGACY_CHARGES | _PATIENTS
# The current API serves a patient's `type` from this enum; the legacy one takes any text.
USER_TYPES = ("PROVIDER", "PATIENT", "ASSISTANT")

# The answer fields each record keeps as shown (`zipCode` as `zip_code`, and so on).
_PATIENT_V1 = ("firstName", "lastName", "email", "phoneNumber", "dateOfBirth", "address", "city",
               "state", "zipCode", "country", "meta", "type")  # fmt: skip
_PATIENT = (*_PATIENT_V1, "externalId", "gender", "patientSource", "creditBalance")
_ITEM = ("name", "price", "description", "category", "unit", "type")
_LINE = ("quantity", "price", "itemId", "name", "description", "discountAmount",
         "discountPercentage", "discountReason", "taxAmount")  # fmt: skip
_CHARGE = ("patientId", "totalOutstanding", "status", "discountAmount", "discountPercentage",
           "description", "comment", "externalId", "externalCreatedDate", "creatorId",
           "locationId", "ruleSetId", "meta")  # fmt: skip
_PAYMENT = ("amount", "status", "paymentMedium", "fee", "feeToPatient", "failedReason")
_REFUND = ("amount", "reason", "status")
_ADJUSTMENT = ("amount", "adjustmentType", "providerId", "locationId")
_ABSENT = object()


class _Refused(Exception):
    """Why the store cannot take a record of an answer, in words a person can act on."""


class _Change:
    """The records one answer put into the store, so that a refused answer changes nothing."""

    def __init__(self) -> None:
        self._undo: list[tuple[dict[str, Any], str, Any]] = []

    def take(
        self, table: dict[str, R], kind: type[R], shown: Json, names: Names, **extra: Any
    ) -> R:
        """Put the record `shown` describes into `table`, over the one with its id."""
        record = _build(kind, table.get(shown["id"]), shown, names, **extra)
        # Records are replaced, never changed in place, so the old one can be put back.
        self._undo.append((table, record.id, table.get(record.id, _ABSENT)))
        table[record.id] = record
        return record

    def undo(self) -> None:
        for table, record_id, old in reversed(self._undo):
            if old is _ABSENT:
                del table[record_id]
            else:
                table[record_id] = old


def load_recorded(store: DecodaStore, exchanges: Sequence[Exchange]) -> list[Notice]:
    """Take in every record the answers show, in order (the last answer about one wins). A
    record the store cannot take is refused whole, and named; one it takes but serves with
    values it does not keep (an event id, tags) is named with the first of them."""
    notices: list[Notice] = []
    for exchange in exchanges:
        body = exchange.response.body
        for index, answer in enumerate(body if isinstance(body, list) else [body]):
            where = f"$[{index}]" if isinstance(body, list) else "$"
            change = _Change()
            try:
                served, recorded, path = _take(store, change, exchange.operation_id, answer)
            # Bodies matched the spec, so only a refusal is expected; the rest is caught too
            # because this runs on a tenant's first request, where raising would be a 500.
            except (_Refused, AttributeError, KeyError, TypeError, ValueError) as error:
                change.undo()
                reason = str(error) if isinstance(error, _Refused) else f"unreadable ({error!r})"
                notices.append(Notice(exchange.source, f"{_label(answer)}: {reason}"))
                continue
            differences = _differences(served, recorded, where + path)
            if differences:
                more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
                reason = f"{_label(answer)}: loaded, but {differences[0]}{more}"
                notices.append(Notice(exchange.source, reason, loaded=True))
    return notices


def _label(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "an answer"
    return f"{'charge' if 'patientId' in answer else 'patient'} {answer.get('id')}"


def _take(store: DecodaStore, change: _Change, operation: str | None, shown: Json) -> Any:
    """Take one answer's records; return what the sandbox now serves for it, what was
    recorded, and where in the answer that is."""
    if operation in _CHARGES:
        charge = _take_charge(store, change, shown, detail=operation != "createCharge")
        shape = render.charge_summary if operation == "createCharge" else render.charge_detail
        return shape(charge, store), shown, ""
    if operation in _LEGACY_CHARGES:
        patient = _take_patient(store, change, shown["patient"], legacy=True)
        return render_v1.patient(patient), shown["patient"], ".patient"
    if operation not in _PATIENTS:
        raise _Refused(f"{operation} answers hold no Decoda records")
    patient = _take_patient(store, change, shown, legacy=operation.endswith("V1"))
    if operation.endswith("V1"):
        return render_v1.patient(patient), shown, ""
    if operation == "createPatient":
        return render.patient_summary(patient), shown, ""
    # What a patient spent follows the payments the store holds, not a recorded number.
    chart = render.patient_chart(patient, store)
    return {**chart, "totalSpent": shown.get("totalSpent")}, shown, ""


def _take_patient(store: DecodaStore, change: _Change, shown: Json, legacy: bool) -> Patient:
    extra: Json = {}
    if legacy:
        # The legacy shape writes a missing first name as "" (as render_v1 does), and calls
        # the external id `externalUserId`.
        extra["first_name"] = shown.get("firstName") or None
        if "externalUserId" in shown:
            extra["external_id"] = shown["externalUserId"]
    names = _PATIENT_V1 if legacy else _PATIENT
    patient = change.take(store.patients, Patient, shown, names, **extra)
    if patient.type not in USER_TYPES:
        raise _Refused(f"type {patient.type!r} is not one the current API serves {USER_TYPES}")
    return patient


def _take_charge(store: DecodaStore, change: _Change, shown: Json, detail: bool) -> Charge:
    charge_id, patient_id = shown.get("id"), shown["patientId"]
    if charge_id is None or shown.get("createdDate") is None:
        raise _Refused("a charge needs its id and createdDate to be found and ordered again")
    if shown.get("patient") is not None:
        _take_patient(store, change, shown["patient"], legacy=False)
    if patient_id not in store.patients:
        raise _Refused(f"its patient {patient_id} is in no earlier answer (record GET "
                       f"/user/patient/{patient_id} before it)")  # fmt: skip
    lines = [
        _take_line(store, change, charge_id, line, detail) for line in shown.get("items") or []
    ]
    # A summary shows no payments or adjustments: those the store knows stay.
    money = _take_money(store, change, shown) if detail else {}
    total = shown.get("total") or 0
    charge = change.take(store.charges, Charge, shown, _CHARGE, total=total, lines=lines, **money)
    _void(store, charge)
    return charge


def _take_line(
    store: DecodaStore, change: _Change, charge_id: str, line: Json, detail: bool
) -> Line:
    item = line.get("item") if detail else None
    if item is not None and item.get("id") is not None:
        change.take(store.items, CatalogueItem, item, _ITEM)
    item_id = line.get("itemId")
    if item_id is not None and item_id not in store.items:
        raise _Refused(f"catalogue item {item_id} is in no earlier answer (record GET "
                       f"/billing/charge/get/{charge_id}, which shows it)")  # fmt: skip
    return _build(Line, None, line, _LINE, id=line.get("id") or "", charge_id=charge_id)


def _take_money(store: DecodaStore, change: _Change, shown: Json) -> Json:
    """The payments (with their refunds) and adjustments a charge detail shows."""
    charge_id = shown["id"]
    payments = [_take_payment(store, change, shown, s) for s in shown.get("payments") or []]
    old = store.charges.get(charge_id)
    for gone in old.payment_ids if old else []:
        # A payment the answer no longer shows on the charge stops paying it: a stale share
        # would come back as owed if that payment failed later.
        if gone not in payments and gone in store.payments:
            shown_gone = {"id": gone}
            shares = {c: a for c, a in store.payments[gone].allocations.items() if c != charge_id}
            change.take(store.payments, Payment, shown_gone, (), allocations=shares)
    adjustments = [
        change.take(store.adjustments, Adjustment, a, _ADJUSTMENT, charge_id=charge_id,
                    reason=a.get("reason") or "").id
        for a in shown.get("adjustments") or []
    ]  # fmt: skip
    return {"payment_ids": payments, "adjustment_ids": adjustments}


def _take_payment(store: DecodaStore, change: _Change, charge: Json, share: Json) -> str:
    shown = share["payment"]
    payer = shown.get("patientId")
    if payer is not None and payer not in store.patients:
        raise _Refused(f"payment {shown['id']} was made by patient {payer}, who is in no "
                       f"earlier answer (record GET /user/patient/{payer} before it)")  # fmt: skip
    refunds = shown.get("refunds") or []
    for refund in refunds:
        change.take(store.refunds, Refund, refund, _REFUND, payment_id=shown["id"])
    # Its shares of other charges come from the answers about those. No answer shows the
    # order it paid them in (timelines follow it): oldest charge first.
    old = store.payments.get(shown["id"])
    shares = {**(old.allocations if old else {}), charge["id"]: share["amount"]}
    born = {c: _instant(charge["createdDate"]) if c == charge["id"]
            else store.charges[c].created_date for c in shares}  # fmt: skip
    shares = {c: shares[c] for c in sorted(shares, key=lambda c: (born[c], c))}
    # `updatedDate` is when a payment failed: the store keeps no other update time.
    failed = shown.get("updatedDate") if shown["status"] == "FAILED" else None
    return change.take(store.payments, Payment, shown, _PAYMENT, patient_id=payer,
                       allocations=shares, refund_ids=[r["id"] for r in refunds],
                       failed_at=_instant(failed) if failed else None).id  # fmt: skip


def _void(store: DecodaStore, charge: Charge) -> None:
    """A VOID charge refuses money only with a void time, which no answer shows: taken as the
    last moment the answer does show, and the amount voided as what was still owed then."""
    # `charge` was just made by `take`, so it is changed in place.
    charge.voided_at, charge.voided_amount = None, 0
    if charge.status != "VOID":
        return
    payments = [store.payments[p] for p in charge.payment_ids]
    adjustments = [store.adjustments[a] for a in charge.adjustment_ids]
    moments = [
        charge.created_date,
        *(p.created_date for p in payments),
        *(store.refunds[r].created_date for p in payments for r in p.refund_ids),
        *(a.created_date for a in adjustments),
    ]
    paid = sum(p.allocations[charge.id] for p in payments if p.status == "SUCCEEDED")
    written = sum(a.amount for a in adjustments if a.adjustment_type == "WRITE_OFF")
    charge.voided_at, charge.voided_amount = max(moments), max(0, charge.total - paid - written)


def _build(kind: type[R], old: R | None, shown: Json, names: Names, **extra: Any) -> R:
    """`old` (or a new record) with what `shown` says. A null where the record keeps none
    leaves the field as it was, and the comparison that follows names the difference."""
    nullable = {f.name for f in fields(kind) if f.default is None}
    given = {
        _snake(name): shown[name]
        for name in names
        if name in shown and (shown[name] is not None or _snake(name) in nullable)
    }
    if "createdDate" in shown:
        given["created_date"] = _instant(shown["createdDate"])
    given.update({"id": shown.get("id"), **extra})
    return kind(**given) if old is None else replace(old, **given)


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda upper: f"_{upper.group().lower()}", name)


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    # The store compares instants with its clock's, which are aware: a naive one is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _differences(served: Any, recorded: Any, path: str) -> list[str]:
    """Where the sandbox does not serve the recorded JSON. An absent field and a null are
    the same, and so are two spellings of one instant."""
    if isinstance(served, dict) and isinstance(recorded, dict):
        keys = [*recorded, *(k for k in served if k not in recorded)]
        return [
            d for k in keys for d in _differences(served.get(k), recorded.get(k), f"{path}.{k}")
        ]
    if isinstance(served, list) and isinstance(recorded, list) and len(served) == len(recorded):
        pairs = enumerate(zip(served, recorded, strict=True))
        return [
            d for i, (ours, theirs) in pairs for d in _differences(ours, theirs, f"{path}[{i}]")
        ]
    if _same(served, recorded) or _same_instant(served, recorded):
        return []
    return [
        f"the sandbox serves {path} as {_short(served)}, not as recorded ({_short(recorded)}): "
        "it keeps no such value"
    ]


def _same(a: Any, b: Any) -> bool:
    return bool(a == b and isinstance(a, bool) == isinstance(b, bool))


def _same_instant(a: Any, b: Any) -> bool:
    if not (isinstance(a, str) and isinstance(b, str) and "T" in a and "T" in b):
        return False
    try:
        return _instant(a) == _instant(b)
    except ValueError:
        return False


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else f"{text[:57]}..."
