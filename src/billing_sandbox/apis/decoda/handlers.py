"""Decoda handlers: translate camelCase bodies and snake_case queries into one store call,
and render the result in the caller's API generation. No rules live here."""

from __future__ import annotations

from datetime import date, datetime
from operator import attrgetter
from typing import Any

from billing_sandbox.api import Call
from billing_sandbox.apis.decoda import render, render_v1
from billing_sandbox.apis.decoda.records import Charge, Patient
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.apis.decoda.timeline import timeline
from billing_sandbox.apis.decoda.webhooks import DeliveryFilter
from billing_sandbox.errors import Issue, ValidationFailed

Json = dict[str, Any]
_CHARGE_DETAILS = {
    "customAmount": "custom_amount",
    "discountAmount": "discount_amount",
    "discountPercentage": "discount_percentage",
    "description": "description",
    "comment": "comment",
    "externalId": "external_id",
    "externalCreatedDate": "external_created_date",
    "creatorId": "creator_id",
    "locationId": "location_id",
    "ruleSetId": "rule_set_id",
    "meta": "meta",
    "patientPaysProcessingFee": "patient_pays_processing_fee",
}
_LINE_FIELDS = {
    "quantity": "quantity",
    "price": "price",
    "itemId": "item_id",
    "name": "name",
    "description": "description",
    "discountAmount": "discount_amount",
    "discountPercentage": "discount_percentage",
    "discountReason": "discount_reason",
    "taxAmount": "tax_amount",
}
_PATIENT_FIELDS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phoneNumber": "phone_number",
    "externalId": "external_id",
    "externalUserId": "external_id",
    "dateOfBirth": "date_of_birth",
    "gender": "gender",
    "address": "address",
    "city": "city",
    "state": "state",
    "zipCode": "zip_code",
    "country": "country",
    "meta": "meta",
    "patientSource": "patient_source",
    "type": "type",
    "creditBalance": "credit_balance",
}


def _pick(body: Json, names: dict[str, str]) -> Json:
    """The fields a body sets (null means unset), renamed to the store's names."""
    return {ours: body[theirs] for theirs, ours in names.items() if body.get(theirs) is not None}


def _new_patient(call: Call[DecodaStore]) -> Patient:
    return call.store.create_patient(**_pick(call.body or {}, _PATIENT_FIELDS))


def _charge_ids(charges: list[Json]) -> list[str]:
    missing = [index for index, charge in enumerate(charges) if not charge.get("id")]
    if missing:
        issues = [
            Issue("body", (i, "id"), "the sandbox finds each charge by its id", "missing")
            for i in missing
        ]
        raise ValidationFailed(issues)
    return [str(charge["id"]) for charge in charges]


def _date(text: str | None, *path: str | int) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            [Issue("body", path, f"{text!r} is not a calendar date", "date_parsing")]
        ) from None


# ---- legacy /v1 ----


async def create_charge_v1(call: Call[DecodaStore]) -> Json:
    store = call.store
    body = call.body
    charge = store.open_legacy_charge(
        body["patientId"],
        body["totalOutstanding"],
        body.get("items") or [],
        body.get("status"),
        **_pick(body, _CHARGE_DETAILS),
    )
    return render_v1.charge_detail(charge, store)


async def get_charge_v1(call: Call[DecodaStore]) -> Json:
    store = call.store
    return render_v1.charge_detail(store.charge(call.path["charge_id"]), store)


async def list_charges_v1(call: Call[DecodaStore]) -> list[Json]:
    store = call.store
    q = call.query
    charges = store.find_charges_v1(
        patient_id=q.get("patient_id"),
        status=q.get("status"),
        external_id=q.get("external_id"),
        total=q.get("total"),
        total_outstanding=q.get("total_outstanding"),
        description=q.get("description"),
        sort_by=q["sort_by"],
        descending=q["sort_direction"] == "desc",
        limit=q["n"],
    )
    return [render_v1.charge_summary(charge, store) for charge in charges]


async def adjust_charge_v1(call: Call[DecodaStore]) -> Json:
    return await create_adjustment(call)


async def create_patient_v1(call: Call[DecodaStore]) -> Json:
    return render_v1.patient(_new_patient(call))


async def get_patient_v1(call: Call[DecodaStore]) -> Json:
    return render_v1.patient(call.store.patient(call.path["patient_id"]))


async def list_patients_v1(call: Call[DecodaStore]) -> list[Json]:
    q = call.query
    found = call.store.search_patients(q.get("search_term"), q.get("external_user_id"), q["n"])
    return [render_v1.patient(patient) for patient in found]


# ---- current ----


async def get_charge_timeline(call: Call[DecodaStore]) -> Any:
    charge_id, payment_id = call.query.get("charge_id"), call.query.get("payment_id")

    def events() -> list[Json]:
        return [render.event(entry) for entry in timeline(call.store, charge_id, payment_id)]

    # The events of a charge (or payment) depend on the tenant's records only: kept as bytes
    # on a read, until the tenant's next write.
    return call.renders.get("decoda.charge_timeline", (charge_id, payment_id), events)


async def create_charge(call: Call[DecodaStore]) -> Json:
    store = call.store
    body = call.body
    lines = [_pick(line, _LINE_FIELDS) for line in body.get("items") or []]
    details = _pick(body, {k: v for k, v in _CHARGE_DETAILS.items() if k != "customAmount"})
    charge = store.open_charge(
        body["patientId"],
        body["totalOutstanding"],
        lines,
        body.get("status"),
        charge_id=body.get("id"),
        **details,
    )
    return render.charge_summary(charge, store)


async def get_charge(call: Call[DecodaStore]) -> Any:
    return _charge_detail(call, call.store.charge(call.path["id"]))


async def list_charges(call: Call[DecodaStore]) -> Any:
    found = call.store.find_charges(call.query.get("patient_id"), call.query.get("status"))
    store = call.store
    return call.renders.each(
        "decoda.charge_detail",
        found,
        _CHARGE_ID,
        lambda charge: render.charge_detail(charge, store),
    )


_CHARGE_ID = attrgetter("id")


def _charge_detail(call: Call[DecodaStore], charge: Charge) -> Any:
    """A charge as the current API details it, from the tenant's kept renderings on a read."""
    return call.renders.get("decoda.charge_detail", charge.id,
                            lambda: render.charge_detail(charge, call.store))  # fmt: skip


async def archive_charge(call: Call[DecodaStore]) -> bool:
    return call.store.archive_charge(call.path["charge_id"])


async def create_adjustment(call: Call[DecodaStore]) -> Json:
    body = call.body
    details = _pick(body, {"providerId": "provider_id", "locationId": "location_id"})
    made = call.store.adjust(body["chargeId"], body["amount"], body["reason"], **details)
    return render.adjustment_summary(made)


async def create_write_off(call: Call[DecodaStore]) -> Json:
    body = call.body
    details = _pick(body, {"providerId": "provider_id", "locationId": "location_id"})
    return render.adjustment_summary(
        call.store.write_off(body["chargeId"], body["reason"], **details)
    )


async def create_cash_settled_payment(call: Call[DecodaStore]) -> Json:
    q = call.query
    payment = call.store.settle_externally(
        _charge_ids(call.body),
        q["amount"],
        q["payment_medium"],
        q.get("credit_overpayment_amount") or 0,
        q.get("patient_id"),
    )
    return render.payment_summary(payment)


async def refund_payment(call: Call[DecodaStore]) -> Json:
    body = call.body
    details = _pick(body, {"providerId": "provider_id", "description": "description"})
    refund = call.store.refund(body["paymentId"], body["amount"], body["reason"], **details)
    return render.refund_summary(refund)


async def create_payment_plan_with_charges(call: Call[DecodaStore]) -> Json:
    body = call.body
    plan = body["paymentPlan"]
    created = call.store.start_plan(
        charge_ids=_charge_ids(body["charges"]),
        plan_charge_ids=plan["chargeIds"],
        initial_amount=plan["initialAmount"],
        installments=plan["installments"],
        installment_amount=plan["installmentAmount"],
        frequency=plan["frequency"],
        start_date=_date(plan.get("startDate"), "paymentPlan", "startDate"),
        payment_method_id=body["rainforestPaymentMethodId"],
        location_id=plan.get("locationId"),
    )
    return render.plan(created)


async def cancel_payment_plan(call: Call[DecodaStore]) -> bool:
    return call.store.cancel_plan(call.path["charge_id"])


async def create_patient(call: Call[DecodaStore]) -> Json:
    return render.patient_summary(_new_patient(call))


async def get_patient(call: Call[DecodaStore]) -> Json:
    store = call.store
    return render.patient_chart(store.patient(call.path["patient_id"]), store)


# ---- webhooks (the same operations under /v1/webhook/ and /webhook/decoda/) ----


async def create_webhook(call: Call[DecodaStore]) -> Json:
    body = call.body
    made = call.store.hooks.create(
        body["url"],
        body["subscriptions"],
        body.get("notificationEmail"),
        call.sandbox.settings.webhook_hosts,
    )
    return render.webhook(made)


async def list_webhooks(call: Call[DecodaStore]) -> list[Json]:
    found = call.store.hooks.listed(call.query.get("include_archived") or False)
    return [render.webhook(webhook) for webhook in found]


async def get_webhook(call: Call[DecodaStore]) -> Json:
    return render.webhook(call.store.hooks.webhook(call.path["webhook_id"]))


async def update_webhook(call: Call[DecodaStore]) -> Json:
    body = call.body or {}
    changed = call.store.hooks.update(
        call.path["webhook_id"],
        body.get("url"),
        body.get("subscriptions"),
        body.get("notificationEmail"),
        call.sandbox.settings.webhook_hosts,
    )
    return render.webhook(changed)


async def delete_webhook(call: Call[DecodaStore]) -> bool:
    return call.store.hooks.archive(call.path["webhook_id"])


async def list_webhook_deliveries(call: Call[DecodaStore]) -> list[Json]:
    q = call.query
    where = DeliveryFilter(
        event_type=q.get("event_type"),
        is_delivered=q.get("is_delivered"),
        created_before=_instant(q, "created_before"),
        created_after=_instant(q, "created_after"),
        delivered_before=_instant(q, "delivery_date_before"),
        delivered_after=_instant(q, "delivery_date_after"),
        last_status=q.get("last_delivery_attempt_status"),
        last_error=q.get("last_delivery_attempt_error"),
    )
    found = call.store.hooks.deliveries_of(
        call.path["webhook_id"],
        where,
        sort_by=q["sort_by"],
        descending=q["sort_direction"] == "desc",
        limit=q["limit"],
        offset=q["offset"],
    )
    return [render.delivery(delivery) for delivery in found]


def _instant(query: dict[str, Any], name: str) -> datetime | None:
    """A date-time query parameter (its format already checked against the spec)."""
    text = query.get(name)
    if text is None:
        return None
    try:
        # RFC 3339 allows a lower-case `t` and `z`; Python's parser wants them upper-case.
        return datetime.fromisoformat(text.upper())
    except ValueError:
        issue = Issue("query", (name,), f"{text!r} is not a date-time", "datetime_parsing")
        raise ValidationFailed([issue]) from None


async def get_webhook_delivery(call: Call[DecodaStore]) -> Json:
    return render.delivery(call.store.hooks.delivery(call.path["webhook_delivery_attempt_id"]))


async def send_webhook_delivery(call: Call[DecodaStore]) -> Json:
    return render.delivery(call.store.hooks.resend(call.path["webhook_delivery_attempt_id"]))


# The legacy /v1 webhook operations answer exactly as the current ones do: the same handlers,
# under the names their operationIds take (`createWebhookV1` → `create_webhook_v1`).
create_webhook_v1 = create_webhook
list_webhooks_v1 = list_webhooks
get_webhook_v1 = get_webhook
update_webhook_v1 = update_webhook
delete_webhook_v1 = delete_webhook
list_webhook_deliveries_v1 = list_webhook_deliveries
get_webhook_delivery_v1 = get_webhook_delivery
send_webhook_delivery_v1 = send_webhook_delivery


# ---- the tenant's webhook configuration (current API only) ----


async def get_webhook_config(call: Call[DecodaStore]) -> Json:
    return dict(call.store.hooks.config)


async def update_webhook_config(call: Call[DecodaStore]) -> Json:
    body = call.body
    call.store.hooks.configure(
        body.get("webhookUrl"),
        body.get("webhookEnabled", False),
        body.get("webhookSubscriptions", []),
    )
    return render.tenant(call.tenant.id, call.store.hooks.config)
