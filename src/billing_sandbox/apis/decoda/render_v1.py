"""Records in the legacy `/v1` external API's shapes."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.decoda.records import CatalogueItem, Charge, Line, Patient, Payment
from billing_sandbox.apis.decoda.render import adjustment_summary, iso, refund_summary
from billing_sandbox.apis.decoda.store import DecodaStore

Json = dict[str, Any]


def patient(record: Patient) -> Json:
    return {
        "id": record.id,
        # Legacy patients always had a first name; one made through the current API may not.
        "firstName": record.first_name or "",
        "type": record.type,
        "createdDate": iso(record.created_date),
        "lastName": record.last_name,
        "email": record.email,
        "phoneNumber": record.phone_number,
        "address": record.address,
        "addressLineTwo": None,
        "city": record.city,
        "state": record.state,
        "zipCode": record.zip_code,
        "country": record.country,
        "addressValid": None,
        "dateOfBirth": iso(record.date_of_birth),
        "externalUserId": record.external_id,
        "meta": record.meta,
        "optedOutOfSms": False,
        "allergies": [],
        "familyHistory": [],
        "medicalHistory": [],
        "medications": [],
        "prescriptions": [],
    }


def item_summary(item: CatalogueItem) -> Json:
    return {
        "id": item.id,
        "name": item.name,
        "price": item.price,
        "description": item.description,
        "image": None,
        "meta": None,
        "unit": item.unit,
    }


def charge_item(line: Line, store: DecodaStore) -> Json:
    item = store.items.get(line.item_id) if line.item_id else None
    return {
        "itemId": line.item_id,
        "chargeId": line.charge_id,
        "quantity": line.quantity,
        "discountAmount": line.discount_amount or 0,
        "discountPercentage": line.discount_percentage or 0.0,
        "item": item_summary(item) if item else None,
    }


def payment(record: Payment, store: DecodaStore) -> Json:
    return {
        "id": record.id,
        "amount": record.amount,
        "status": record.status,
        "paymentMedium": record.payment_medium,
        "createdDate": iso(record.created_date),
        "fee": record.fee,
        "refunds": [refund_summary(store.refunds[r]) for r in record.refund_ids],
        "currency": "USD",
        "failedReason": record.failed_reason,
        "patientId": record.patient_id,
        "payinConfigId": None,
        "payinId": None,
        "paymentMethod": None,
        "paymentMethodId": None,
        "stripePaymentIntentId": None,
        "updatedDate": iso(record.failed_at),
    }


def charge_summary(charge: Charge, store: DecodaStore) -> Json:
    return {
        "id": charge.id,
        "patientId": charge.patient_id,
        "customAmount": charge.custom_amount,
        "total": charge.total,
        "totalOutstanding": charge.total_outstanding,
        "status": charge.status,
        "discountAmount": charge.discount_amount,
        "discountPercentage": charge.discount_percentage,
        "patientPaysProcessingFee": charge.patient_pays_processing_fee,
        "createdDate": iso(charge.created_date),
        "patient": patient(store.patients[charge.patient_id]),
        "description": charge.description,
        "externalCreatedDate": iso(charge.external_created_date),
        "externalId": charge.external_id,
        "meta": charge.meta,
        "ruleSetId": charge.rule_set_id,
    }


def charge_detail(charge: Charge, store: DecodaStore) -> Json:
    short = {
        "id": charge.id,
        "total": charge.total,
        "totalOutstanding": charge.total_outstanding,
        "externalId": charge.external_id,
        "meta": charge.meta,
    }
    payments = [
        {
            "paymentId": p,
            "amount": store.payments[p].allocations[charge.id],
            "createdDate": iso(store.payments[p].created_date),
            "chargeId": charge.id,
            "charge": short,
            "payment": payment(store.payments[p], store),
        }
        for p in charge.payment_ids
    ]
    return {
        **charge_summary(charge, store),
        "adjustments": [adjustment_summary(store.adjustments[a]) for a in charge.adjustment_ids],
        "payments": payments,
        "items": [charge_item(line, store) for line in charge.lines],
        "explanationOfBenefits": [],
    }
