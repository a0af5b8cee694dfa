"""Records in the current (unprefixed) API's shapes, with unset optionals as `null`, as
pydantic serialises them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from billing_sandbox.apis.decoda.records import (
    Adjustment,
    CatalogueItem,
    Charge,
    Delivery,
    Line,
    Patient,
    Payment,
    PaymentPlan,
    Refund,
    Webhook,
)
from billing_sandbox.apis.decoda.store import DecodaStore
from billing_sandbox.apis.decoda.timeline import Event

Json = dict[str, Any]


def iso(moment: datetime | date | str | None) -> str | None:
    """`2026-03-01T12:00:00Z` for instants, `2026-03-01` for dates, as pydantic writes them;
    text the client sent is returned as it came."""
    if moment is None or isinstance(moment, str):
        return moment
    return moment.isoformat().replace("+00:00", "Z")


def patient_summary(patient: Patient) -> Json:
    return {
        "id": patient.id,
        "type": patient.type,
        "createdDate": iso(patient.created_date),
        "firstName": patient.first_name,
        "lastName": patient.last_name,
        "phoneNumber": patient.phone_number,
        "email": patient.email,
        "locationId": None,
        "externalId": patient.external_id,
        "address": patient.address,
        "addressLineTwo": None,
        "city": patient.city,
        "state": patient.state,
        "zipCode": patient.zip_code,
        "country": patient.country,
        "addressValid": None,
        "meta": patient.meta,
        "isArchived": False,
        "primaryLocationId": None,
        "gender": patient.gender,
        "pronouns": None,
        "preferredName": None,
        "dateOfBirth": iso(patient.date_of_birth),
        "patientSource": patient.patient_source,
        "leadSource": None,
        "onSchedulingBlacklist": False,
        "surchargeDisabled": False,
        "tags": [],
        "creditBalance": patient.credit_balance,
        "preferredProviderId": None,
    }


def patient_chart(patient: Patient, store: DecodaStore) -> Json:
    """The summary plus the chart extras; `totalSpent` is what the patient paid, net of refunds."""
    spent = sum(
        p.amount - store.refunded(p)
        for p in store.payments.values()
        if p.patient_id == patient.id and p.status == "SUCCEEDED"
    )
    return {
        **patient_summary(patient),
        "memberships": [],
        "goalWeight": None,
        "measurements": [],
        "medications": [],
        "optedOutOfSms": False,
        "appointmentCount": 0,
        "totalSpent": spent,
        "healthData": None,
        "profilePictureUrl": None,
    }


def item_tiny(item: CatalogueItem) -> Json:
    return {
        "name": item.name,
        "price": item.price,
        "id": item.id,
        "brandName": None,
        "description": item.description,
        "category": item.category,
        "unit": item.unit,
        "isPhysical": item.type in ("ITEM", "PRODUCT", "MEDICATION"),
        "isArchived": False,
        "internalNotes": None,
        "sortOrder": None,
        "allowCustomPricing": False,
        "type": item.type,
        "externalId": None,
        "exemptedTaxIds": [],
        "cost": None,
    }


def charge_item(line: Line) -> Json:
    return {
        "quantity": line.quantity,
        "price": line.price,
        "id": line.id,
        "itemId": line.item_id,
        "chargeId": line.charge_id,
        "name": line.name,
        "description": line.description,
        "discountAmount": line.discount_amount,
        "discountPercentage": line.discount_percentage,
        "discountReason": line.discount_reason,
        "taxAmount": line.tax_amount,
        "soldPackageId": None,
        "bankedQuantity": None,
        "bankedItemId": None,
        "issuedDiscountId": None,
        "soldByProviderId": None,
        "pricingId": None,
        "shipmentIds": None,
    }


def charge_item_detail(line: Line, charge: Charge, store: DecodaStore) -> Json:
    item = store.items.get(line.item_id) if line.item_id else None
    return {
        **charge_item(line),
        "item": item_tiny(item) if item else None,
        "locationId": charge.location_id,
        "locationName": None,
        "saleDate": iso(charge.created_date),
    }


def refund_summary(refund: Refund) -> Json:
    return {
        "id": refund.id,
        "paymentId": refund.payment_id,
        "amount": refund.amount,
        "reason": refund.reason,
        "createdDate": iso(refund.created_date),
        "status": refund.status,
        "rainforestRefundId": None,
        "fee": 0,
    }


def payment_summary(payment: Payment) -> Json:
    return {
        "id": payment.id,
        "amount": payment.amount,
        "status": payment.status,
        "paymentMedium": payment.payment_medium,
        "createdDate": iso(payment.created_date),
        "fee": payment.fee,
        "feeToPatient": payment.fee_to_patient,
        "currency": "USD",
        "paymentMethodId": None,
        "patientId": payment.patient_id,
        "payinId": None,
        "payinConfigId": None,
        "stripePaymentIntentId": None,
        "failedReason": payment.failed_reason,
        "updatedDate": iso(payment.failed_at),
    }


def payment(record: Payment, store: DecodaStore) -> Json:
    refunds = [refund_summary(store.refunds[r]) for r in record.refund_ids]
    return {**payment_summary(record), "paymentMethod": None, "refunds": refunds}


def adjustment_summary(adjustment: Adjustment) -> Json:
    return {
        "id": adjustment.id,
        "chargeId": adjustment.charge_id,
        "amount": adjustment.amount,
        "createdDate": iso(adjustment.created_date),
        "adjustmentType": adjustment.adjustment_type,
        "providerId": adjustment.provider_id,
        "reason": adjustment.reason,
        "locationId": adjustment.location_id,
    }


def charge_summary(charge: Charge, store: DecodaStore) -> Json:
    return {
        "id": charge.id,
        "patientId": charge.patient_id,
        "total": charge.total,
        "totalOutstanding": charge.total_outstanding,
        "status": charge.status,
        "discountAmount": charge.discount_amount,
        "discountPercentage": charge.discount_percentage,
        "items": [charge_item(line) for line in charge.lines],
        "tips": [],
        "patient": patient_summary(store.patients[charge.patient_id]),
        "description": charge.description,
        "externalId": charge.external_id,
        "externalCreatedDate": iso(charge.external_created_date),
        "ruleSetId": charge.rule_set_id,
        "createdDate": iso(charge.created_date),
        "creatorId": charge.creator_id,
        "locationId": charge.location_id,
        "eventId": None,
        "memberId": None,
        "comment": charge.comment,
        "meta": charge.meta,
        "merchantAccountId": None,
    }


def charge_detail(charge: Charge, store: DecodaStore) -> Json:
    """`ChargeDetailWithItems`: lines with their catalogue item, payments, adjustments."""
    payments = [
        {
            "paymentId": p,
            "amount": store.payments[p].allocations[charge.id],
            "chargeId": charge.id,
            "payment": payment(store.payments[p], store),
            "createdDate": iso(store.payments[p].created_date),
        }
        for p in charge.payment_ids
    ]
    return {
        **charge_summary(charge, store),
        "items": [charge_item_detail(line, charge, store) for line in charge.lines],
        "payments": payments,
        "adjustments": [adjustment_summary(store.adjustments[a]) for a in charge.adjustment_ids],
    }


def plan(record: PaymentPlan) -> Json:
    return {
        "id": record.id,
        "paymentMethodId": record.payment_method_id,
        "initialAmount": record.initial_amount,
        "chargeIds": list(record.charge_ids),
        "frequency": record.frequency,
        "installments": len(record.installments),
        "installmentAmount": record.installment_amount,
        "locationId": record.location_id,
        "startDate": iso(record.start_date),
    }


def webhook(record: Webhook) -> Json:
    return {
        "id": record.id,
        "subscriptions": record.subscriptions,
        "url": record.url,
        "createdDate": iso(record.created_date),
        "updatedDate": iso(record.updated_date),
        "secret": record.secret,
        "notificationEmail": record.notification_email,
        "isArchived": record.archived,
    }


def delivery(record: Delivery) -> Json:
    return {
        "id": record.id,
        "type": record.type,
        "data": record.data,
        "createdDate": iso(record.created_date),
        "alertId": record.alert_id,
        "deliveredDate": iso(record.delivered_date),
        "lastDeliveryAttemptDate": iso(record.last_attempt_date),
        "lastDeliveryAttemptStatus": record.last_status,
        "lastDeliveryAttemptError": record.last_error,
    }


def tenant(tenant_id: str, webhook_config: Json) -> Json:
    """The vendor's `Tenant` after a webhook-config update: its required fields (the sandbox
    knows no clinic settings, so they hold neutral values) and the configuration just set."""
    return {
        "name": tenant_id,
        "subDomain": tenant_id,
        "providerDeactivatedPages": [],
        "patientDeactivatedPages": [],
        "enabledModules": [],
        "homePage": "",
        "passFeeToPatient": False,
        "paymentProcessor": "STRIPE",
        "activatedChargeMethods": ["CARD", "ACH"],
        "phoneNumber": "",
        "logoUrl": "",
        "successfulPaymentText": "",
        "campaign": "",
        "enterpriseTenant": None,
        "manualInvoiceText": "",
        "sendReceiptText": "",
        "smsProvider": "",
        **webhook_config,
    }


def event(entry: Event) -> Json:
    """A `ChargeTimeline` entry; fields that do not apply to its type are null."""
    charge = entry.charge if entry.type == "CHARGE" else None
    return {
        "id": entry.id,
        "type": entry.type,
        "amount": entry.amount,
        "date": iso(entry.date),
        "paymentMethod": None,
        "paymentMedium": entry.payment.payment_medium if entry.payment else None,
        "status": entry.status,
        "comment": charge.comment if charge else None,
        "description": _description(entry),
        "refundReason": entry.refund.reason if entry.refund else None,
        "items": [charge_item(line) for line in charge.lines] if charge else None,
        "discountAmount": charge.discount_amount if charge else None,
        "creator": None,
        "feeToPatient": entry.payment.fee_to_patient
        if entry.type == "PAYMENT" and entry.payment
        else None,
        "tips": [] if charge else None,
    }


def _description(entry: Event) -> str | None:
    if entry.adjustment is not None:
        return entry.adjustment.reason
    if entry.refund is not None:
        return entry.refund.description
    if entry.type == "FAILED_PAYMENT" and entry.payment is not None:
        return entry.payment.failed_reason
    return entry.charge.description if entry.type == "CHARGE" and entry.charge else None
