"""schemathesis hooks: point generated Decoda ids at the curated records of every tenant.

Decoda ids are plain strings, so a generated id is almost always unknown and the request ends
in 404 before any business rule runs. These hooks replace the ids the sandbox looks up with
the curated ones (fixtures/decoda/README.md): the patient, the two catalogue items, the two
charges and the payment. Only values that are already strings are replaced, by other strings,
and the schema puts no constraint on an id beyond being a string, so a generated request
stays exactly as valid, or as invalid, as it was (schemathesis re-validates edited cases).
Body and query ids are replaced in positive cases only.

Ids the sandbox itself issued (`chg_<24 hex>`, `pat_sandbox_0001`, ...) are kept: in the
stateful phase they come from links (createCharge → getCharge → archiveCharge), in the
fuzzing phase from earlier responses, and neither must be redirected.

archiveCharge is never pointed at a curated charge, and its cases that name one are dropped:
an archived charge is gone for good, and every later request naming it would be a 404.
"""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import schemathesis

PATIENT = "pat_sandbox_0001"
ITEMS = ("item_sandbox_0001", "item_sandbox_0002")
# chg_sandbox_0001 owes 10000 with nothing paid; chg_sandbox_0002 owes 2000 of 6000.
CHARGES = ("chg_sandbox_0001", "chg_sandbox_0002")
PAYMENT = "pay_sandbox_0001"  # CASH 4000 on chg_sandbox_0002
ISSUED = re.compile(r"^(pat|chg|pay|item|ref|adj|plan|chi|ppy)_([0-9a-f]{24}|sandbox_\d{4})$")
CURATED = re.compile(r"^[a-z]+_sandbox_\d{4}$")

# Operations whose ids travel in the body or the query...
BY_BODY_OR_QUERY = (
    "createChargeV1",
    "createCharge",
    "listChargesV1",
    "listCharges",
    "getChargeTimeline",
    "adjustChargeV1",
    "createAdjustment",
    "createWriteOff",
    "createCashSettledPayment",
    "refundPayment",
    "createPaymentPlanWithCharges",
    "createWebhook",
    "createWebhookV1",
)
# A receiver URL the sandbox's default host rule accepts (nothing listens on the discard port).
RECEIVER = "http://127.0.0.1:9/conformance"
# ... and those whose id is a path parameter: its name and the curated ids it may take.
BY_PATH = {
    "getChargeV1": ("charge_id", CHARGES),
    "getCharge": ("id", CHARGES),
    "cancelPaymentPlan": ("charge_id", CHARGES),
    "getPatientV1": ("patient_id", (PATIENT,)),
    "getPatient": ("patient_id", (PATIENT,)),
}

Hook = TypeVar("Hook", bound=Callable[..., Any])


def only_for(*operation_ids: str) -> Callable[[Hook], Hook]:
    """`schemathesis.hook`, applied to these operations only (its `apply_to` is untyped)."""

    def register(hook: Hook) -> Hook:
        registry: Any = schemathesis.hook
        registry.apply_to(operation_id=list(operation_ids))(hook)
        return hook

    return register


def _pick(value: str, choices: tuple[str, ...]) -> str:
    """A curated id chosen by the generated value: varied, and the same on every run (crc32,
    not the salted `hash()`)."""
    return choices[zlib.crc32(value.encode("utf-8", "surrogatepass")) % len(choices)]


def _swap(holder: Any, key: str, *choices: str) -> None:
    if isinstance(holder, dict):
        value = holder.get(key)
        if isinstance(value, str) and not ISSUED.match(value):
            holder[key] = _pick(value, choices)


def _new_charge(body: Any) -> None:
    """A new charge: its patient and its catalogue items (an `id` is ignored on create)."""
    if isinstance(body, dict):
        _swap(body, "patientId", PATIENT)
        lines = body.get("items")
        if isinstance(lines, list):
            for line in lines:
                _swap(line, "itemId", *ITEMS)


def _charges_by_id(body: Any) -> None:
    """A list of existing charges, which the sandbox finds by `id`."""
    if isinstance(body, list):
        for charge in body:
            _swap(charge, "id", *CHARGES)


def _plan(body: Any) -> None:
    """Every string in `charges[].id` and `paymentPlan.chargeIds` becomes the same charge, so
    the two name one set, as the route requires. An issued id among them is that charge."""
    if not isinstance(body, dict):
        return
    charges = body.get("charges")
    plan = body.get("paymentPlan")
    if not isinstance(charges, list) or not isinstance(plan, dict):
        return
    slots: list[tuple[Any, Any]] = [
        (charge, "id")
        for charge in charges
        if isinstance(charge, dict) and isinstance(charge.get("id"), str)
    ]
    ids = plan.get("chargeIds")
    if isinstance(ids, list):
        slots += [(ids, index) for index, value in enumerate(ids) if isinstance(value, str)]
    if not slots:
        return
    texts = [holder[key] for holder, key in slots]
    target = next((text for text in texts if ISSUED.match(text)), None)
    target = target or _pick(texts[0], CHARGES)
    for holder, key in slots:
        if not ISSUED.match(holder[key]):
            holder[key] = target


def _point_at_fixtures(operation_id: str, case: Any) -> None:
    # Generated containers may share nested objects with other cases: edit copies.
    body = copy.deepcopy(case.body) if isinstance(case.body, dict | list) else case.body
    query = dict(case.query or {})
    match operation_id:
        case "createChargeV1" | "createCharge":
            _new_charge(body)
        case "listChargesV1" | "listCharges":
            _swap(query, "patient_id", PATIENT)
        case "getChargeTimeline":
            _swap(query, "charge_id", *CHARGES)
            _swap(query, "payment_id", PAYMENT)
        case "adjustChargeV1" | "createAdjustment" | "createWriteOff":
            _swap(body, "chargeId", *CHARGES)
        case "createCashSettledPayment":
            _charges_by_id(body)
            _swap(query, "patient_id", PATIENT)
        case "refundPayment":
            _swap(body, "paymentId", PAYMENT)
        case "createPaymentPlanWithCharges":
            _plan(body)
        case "createWebhook" | "createWebhookV1":
            # Almost every generated URL names a public host (or none), which is refused.
            if isinstance(body, dict) and isinstance(body.get("url"), str):
                body["url"] = RECEIVER
    if isinstance(body, dict | list) and body != case.body:
        case.body = body
    if query != (case.query or {}):
        case.query = query


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId", ""))


# A case hook slows schemathesis down badly on an operation with path parameters (even a
# no-op `map_case` took getCharge's fuzzing from 2 s to 14 s), so it is kept off them, and
# their ids are replaced by the path-parameter hooks below.
@only_for(*BY_BODY_OR_QUERY)
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is not None and meta.generation.mode is schemathesis.GenerationMode.POSITIVE:
        _point_at_fixtures(_operation_id(case.operation), case)
    return case


@only_for(*BY_PATH)
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    # No case is positive or negative because of a path id: any string is one.
    name, choices = BY_PATH[_operation_id(context.operation)]
    replaced = dict(path_parameters)
    _swap(replaced, name, *choices)
    return replaced


@only_for("archiveCharge")
def filter_path_parameters(context: Any, path_parameters: dict[str, Any]) -> bool:
    charge_id = path_parameters.get("charge_id")
    return not (isinstance(charge_id, str) and CURATED.match(charge_id))
