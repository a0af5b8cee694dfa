"""The Decoda billing store: every money rule, status transition and invariant lives here.

One store serves both API generations (legacy `/v1` and current); handlers render its records
in each generation's shape. A charge's status is always derived from its numbers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from billing_sandbox.apis.decoda.money import charge_total
from billing_sandbox.apis.decoda.records import (
    CARD_MEDIUMS,
    Adjustment,
    CatalogueItem,
    Charge,
    Line,
    Patient,
    Payment,
    PaymentPlan,
    Refund,
)
from billing_sandbox.apis.decoda.schedule import schedule
from billing_sandbox.apis.decoda.webhooks import Webhooks
from billing_sandbox.clock import Clock
from billing_sandbox.errors import Issue, NotFound, Unprocessable, ValidationFailed

Record = TypeVar("Record")


class DecodaStore:
    """One tenant's patients, catalogue, charges and the money that moved against them."""

    def __init__(self, ids: random.Random, clock: Clock) -> None:
        self._ids = ids
        self.clock = clock
        self.patients: dict[str, Patient] = {}
        self.items: dict[str, CatalogueItem] = {}
        self.charges: dict[str, Charge] = {}
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.adjustments: dict[str, Adjustment] = {}
        self.plans: dict[str, PaymentPlan] = {}
        self.hooks = Webhooks(self.new_id, lambda: self.clock)

    # ---- ids and lookups ----

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._ids.getrandbits(96):024x}"

    def patient(self, patient_id: str) -> Patient:
        return _find(self.patients, "Patient", patient_id)

    def charge(self, charge_id: str) -> Charge:
        """A live charge; archived charges are gone as far as the API can tell."""
        found = _find(self.charges, "Charge", charge_id)
        if found.archived:
            raise NotFound("Charge", charge_id)
        return found

    def payment(self, payment_id: str) -> Payment:
        return _find(self.payments, "Payment", payment_id)

    def item(self, item_id: str) -> CatalogueItem:
        return _find(self.items, "Item", item_id)

    def refunded(self, payment: Payment) -> int:
        return sum(self.refunds[r].amount for r in payment.refund_ids)

    # ---- patients ----

    def add_patient(self, patient: Patient) -> Patient:
        self.patients[patient.id] = patient
        return patient

    def create_patient(self, **fields: Any) -> Patient:
        patient = Patient(id=self.new_id("pat"), created_date=self.clock.now(), **fields)
        self.add_patient(patient)
        self.hooks.emit("PATIENT_CREATED", patient)
        return patient

    def search_patients(
        self, search_term: str | None, external_id: str | None, limit: int
    ) -> list[Patient]:
        """Newest first; the term matches a name, phone number or id, case-insensitively."""
        term = (search_term or "").lower()
        found = []
        for patient in sorted(
            self.patients.values(), key=lambda p: (p.created_date, p.id), reverse=True
        ):
            if external_id is not None and patient.external_id != external_id:
                continue
            haystack = " ".join(
                v
                for v in (patient.first_name, patient.last_name, patient.phone_number, patient.id)
                if v
            ).lower()
            if term and term not in haystack:
                continue
            found.append(patient)
            if len(found) == limit:
                break
        return found

    # ---- charges ----

    def open_legacy_charge(
        self,
        patient_id: str,
        total_outstanding: int,
        items: list[dict[str, Any]],
        requested_status: str | None,
        **details: Any,
    ) -> Charge:
        """A `/v1` charge: each line is a catalogue item (by `itemId`) or a new one (`item`),
        priced from the catalogue. New items are stored only if the charge is."""
        self.patient(patient_id)
        new_items: list[CatalogueItem] = []
        lines = []
        for index, entry in enumerate(items):
            if entry.get("itemId") is not None:
                item = self.item(entry["itemId"])
            elif entry.get("item") is not None:
                spec = entry["item"]
                item = CatalogueItem(
                    id=self.new_id("item"),
                    name=spec["name"],
                    price=spec["price"],
                    description=spec.get("description"),
                    unit=spec.get("unit"),
                )
                new_items.append(item)
            else:
                problem = "give itemId (a catalogue item) or item (a new catalogue item)"
                raise ValidationFailed([Issue("body", ("items", index), problem, "missing")])
            lines.append(
                {"quantity": entry["quantity"], "price": item.price, "item_id": item.id,
                 "name": item.name}
            )  # fmt: skip
        return self.open_charge(
            patient_id, total_outstanding, lines, requested_status, new_items, **details
        )

    def open_charge(
        self,
        patient_id: str,
        total_outstanding: int | None,
        lines: Iterable[dict[str, Any]],
        requested_status: str | None,
        new_items: Iterable[CatalogueItem] = (),
        charge_id: str | None = None,
        **details: Any,
    ) -> Charge:
        """Create a charge; `lines` carry quantity, price and optional discount/tax/item id.
        `total_outstanding` None means the whole total (seed data); `charge_id` fixes the id
        (curated fixtures), otherwise one is drawn."""
        self.patient(patient_id)
        if charge_id and charge_id in self.charges:
            # A client that names its charges retries safely: the second create is refused.
            raise Unprocessable(f"Charge {charge_id} already exists")
        pending = {item.id: item for item in new_items}
        charge_id = charge_id or self.new_id("chg")
        built = [self._line(charge_id, line, pending) for line in lines]
        total = charge_total(
            built,
            details.get("custom_amount", 0),
            details.get("discount_amount", 0),
            details.get("discount_percentage", 0.0),
            total_outstanding or 0,
        )
        if total_outstanding is None:
            total_outstanding = total
        if total_outstanding > total:
            raise Unprocessable(
                f"totalOutstanding {total_outstanding} exceeds the charge's total {total} "
                "(its lines, plus customAmount, less discounts)"
            )
        charge = Charge(
            id=charge_id,
            patient_id=patient_id,
            created_date=self.clock.now(),
            total=total,
            total_outstanding=total_outstanding,
            lines=built,
            **details,
        )
        charge.status = self._derive_status(charge)
        if requested_status not in (None, charge.status):
            raise Unprocessable(
                f"a new charge with totalOutstanding {total_outstanding} is {charge.status}, "
                f"not {requested_status}: in the sandbox a status follows the money that moved"
            )
        self.items.update(pending)
        self.charges[charge.id] = charge
        self.hooks.emit("CHARGE_CREATED", charge)
        return charge

    def _line(self, charge_id: str, line: dict[str, Any], pending: dict[str, Any]) -> Line:
        item_id = line.get("item_id")
        if item_id is not None and item_id not in pending:
            self.item(item_id)
        return Line(id=self.new_id("chi"), charge_id=charge_id, **line)

    def add_item(self, name: str, price: int, **details: Any) -> CatalogueItem:
        item = CatalogueItem(id=self.new_id("item"), name=name, price=price, **details)
        self.items[item.id] = item
        return item

    def find_charges(self, patient_id: str | None, status: str | None) -> list[Charge]:
        """Live charges, newest first, optionally of one patient and one status."""
        return [
            c
            for c in sorted(
                self.charges.values(), key=lambda c: (c.created_date, c.id), reverse=True
            )
            if not c.archived
            and (patient_id is None or c.patient_id == patient_id)
            and (status is None or c.status == status)
        ]

    def find_charges_v1(
        self,
        sort_by: str,
        descending: bool,
        limit: int,
        **filters: Any,
    ) -> list[Charge]:
        """The legacy list: exact-match filters, then sorted (ties by id) and cut to `limit`."""
        fields = {"created_date": "created_date", "total": "total",
                  "total_outstanding": "total_outstanding", "status": "status"}  # fmt: skip
        wanted = {name: value for name, value in filters.items() if value is not None}
        matching = [
            c for c in self.charges.values()
            if not c.archived and all(getattr(c, name) == value for name, value in wanted.items())
        ]  # fmt: skip
        matching.sort(key=lambda c: (getattr(c, fields[sort_by]), c.id), reverse=descending)
        return matching[:limit]

    def archive_charge(self, charge_id: str) -> bool:
        charge = self.charge(charge_id)
        carded = [
            p for p in self._payments_of(charge) if not p.external and p.status == "SUCCEEDED"
        ]
        if carded:
            raise Unprocessable(
                f"charge {charge_id} has card payments ({carded[0].id}); refund them instead"
            )
        charge.archived = True
        return True

    # ---- money movement ----

    def adjust(self, charge_id: str, amount: int, reason: str, **details: Any) -> Adjustment:
        """A signed change to what the patient owes: total and outstanding move together."""
        charge = self._movable(charge_id)
        if charge.total_outstanding + amount < 0:
            raise Unprocessable(
                f"an adjustment of {amount} would take charge {charge_id}'s outstanding "
                f"{charge.total_outstanding} below 0"
            )
        adjustment = self._record_adjustment(charge, amount, "ADJUSTMENT", reason, details)
        charge.total += amount
        charge.total_outstanding += amount
        self._settle(charge)
        return adjustment

    def write_off(self, charge_id: str, reason: str, **details: Any) -> Adjustment:
        """Clear everything still owed, as a WRITE_OFF adjustment of that amount."""
        charge = self._movable(charge_id)
        if charge.total_outstanding == 0:
            raise Unprocessable(f"charge {charge_id} has nothing outstanding to write off")
        if self._active_plan(charge):
            raise Unprocessable(
                f"charge {charge_id} is on a payment plan; cancel the plan before writing it off"
            )
        adjustment = self._record_adjustment(
            charge, charge.total_outstanding, "WRITE_OFF", reason, details
        )
        charge.total_outstanding = 0
        self._settle(charge)
        return adjustment

    def settle_externally(
        self,
        charge_ids: list[str],
        amount: int,
        medium: str,
        credit_overpayment: int,
        patient_id: str | None,
        payment_id: str | None = None,
    ) -> Payment:
        """A cash, check, care-credit or custom-medium payment applied to charges in order."""
        if medium in CARD_MEDIUMS or medium == "PATIENT_CREDIT":
            raise Unprocessable(
                f"{medium} is not an external medium; this route settles cash, check, "
                "care credit or a custom medium"
            )
        return self._pay(charge_ids, amount, medium, credit_overpayment, patient_id, payment_id)

    def take_card_payment(
        self,
        charge_ids: list[str],
        amount: int,
        medium: str = "POS",
        payment_id: str | None = None,
        at: datetime | None = None,
    ) -> Payment:
        """A card payment through the processor (seed data, plan installments; the card flow
        is not served yet), made now or at `at` (an installment's due date)."""
        return self._pay(charge_ids, amount, medium, 0, None, payment_id, at)

    def _pay(
        self,
        charge_ids: list[str],
        amount: int,
        medium: str,
        credit_overpayment: int,
        patient_id: str | None,
        payment_id: str | None,
        at: datetime | None = None,
    ) -> Payment:
        """Apply `amount` to the charges in order; any excess must be credited to the patient."""
        charges = [self._movable(charge_id) for charge_id in dict.fromkeys(charge_ids)]
        for charge in charges:
            if charge.total_outstanding == 0:
                raise Unprocessable(f"charge {charge.id} has nothing outstanding")
        owed = sum(c.total_outstanding for c in charges)
        excess = amount - owed
        if excess > credit_overpayment:
            raise Unprocessable(
                f"amount {amount} exceeds what the charges owe ({owed}) by {excess}; pass "
                f"credit_overpayment_amount of at least {excess} to credit it to the patient"
            )
        payer = self.patient(patient_id or charges[0].patient_id)
        payment = Payment(
            id=payment_id or self.new_id("pay"),
            amount=amount,
            payment_medium=medium,
            created_date=at or self.clock.now(),
            patient_id=payer.id,
        )
        remaining = amount
        for charge in charges:
            applied = min(remaining, charge.total_outstanding)
            if applied == 0:
                break
            payment.allocations[charge.id] = applied
            charge.total_outstanding -= applied
            charge.payment_ids.append(payment.id)
            remaining -= applied
        payer.credit_balance += max(0, excess)
        self.payments[payment.id] = payment
        for charge in charges:
            self._settle(charge)
        # The sandbox's payments succeed as they are made: initiated and completed at once.
        self.hooks.emit("PAYMENT_CREATED", payment)
        self.hooks.emit("PAYMENT_COMPLETED", payment)
        return payment

    def refund(self, payment_id: str, amount: int, reason: str, **details: Any) -> Refund:
        """Give money back: never raises what is owed; a charge whose payments are all
        refunded in full becomes REFUNDED."""
        payment = self.payment(payment_id)
        if payment.status != "SUCCEEDED":
            raise Unprocessable(
                f"payment {payment_id} is {payment.status}; only SUCCEEDED ones refund"
            )
        refundable = payment.amount - self.refunded(payment)
        if amount > refundable:
            raise Unprocessable(
                f"payment {payment_id} has {refundable} left to refund; {amount} is too much"
            )
        refund = Refund(
            id=self.new_id("ref"),
            payment_id=payment_id,
            amount=amount,
            reason=reason,
            created_date=self.clock.now(),
            **details,
        )
        self.refunds[refund.id] = refund
        payment.refund_ids.append(refund.id)
        for charge_id in payment.allocations:
            self._settle(self.charges[charge_id])
        self.hooks.emit("REFUND_CREATED", refund)
        return refund

    def fail_payment(self, payment_id: str, reason: str) -> Payment:
        """An ACH return: the payment FAILED, and each charge owes its share again."""
        payment = self.payment(payment_id)
        if payment.status != "SUCCEEDED":
            raise Unprocessable(f"payment {payment_id} is already {payment.status}")
        if payment.refund_ids:
            raise Unprocessable(f"payment {payment_id} has refunds; a refunded payment cannot fail")
        payment.status = "FAILED"
        payment.failed_reason = reason
        payment.failed_at = self.clock.now()
        for charge_id, applied in payment.allocations.items():
            charge = self.charges[charge_id]
            charge.total_outstanding += applied
            self._settle(charge)
        credited = payment.amount - sum(payment.allocations.values())
        if credited and payment.patient_id in self.patients:
            payer = self.patients[payment.patient_id]
            payer.credit_balance = max(0, payer.credit_balance - credited)
        self.hooks.emit("PAYMENT_FAILED", payment)
        return payment

    def void(self, charge_id: str) -> Charge:
        """VOID: nothing is owed any more, and the charge's payments are refunded."""
        charge = self.charge(charge_id)
        if charge.voided_at is not None:
            raise Unprocessable(f"charge {charge_id} is already void")
        for payment in self._payments_of(charge):
            if payment.status != "SUCCEEDED":
                continue
            share = min(payment.allocations[charge.id], payment.amount - self.refunded(payment))
            if share > 0:
                self.refund(payment.id, share, "OTHER", description=f"Charge {charge_id} voided")
        plans = self._plans_of(charge)
        for plan in plans:
            self._cancel(plan)
        charge.voided_amount = charge.total_outstanding
        charge.total_outstanding = 0
        charge.voided_at = self.clock.now()
        # The plan's other charges are off it too, so their statuses follow as well.
        for other in {c for plan in plans for c in plan.charge_ids} | {charge.id}:
            self._settle(self.charges[other])
        return charge

    # ---- payment plans ----

    def start_plan(
        self,
        charge_ids: list[str],
        plan_charge_ids: list[str],
        initial_amount: int,
        installments: int,
        installment_amount: int,
        frequency: str,
        start_date: date | None,
        payment_method_id: str,
        location_id: str | None = None,
    ) -> PaymentPlan:
        """A $0-down plan: the charges go PAYMENT_PLAN with scheduled installments."""
        charges = [self._movable(charge_id) for charge_id in dict.fromkeys(charge_ids)]
        if set(plan_charge_ids) != {c.id for c in charges}:
            raise Unprocessable(
                "paymentPlan.chargeIds must list exactly the charges sent in charges"
            )
        if initial_amount != 0:
            raise Unprocessable(
                "this route creates $0-down plans; initialAmount must be 0 "
                "(a down payment goes through the payin-config flow)"
            )
        for charge in charges:
            if charge.total_outstanding == 0:
                raise Unprocessable(f"charge {charge.id} has nothing outstanding")
            if self._active_plan(charge):
                raise Unprocessable(f"charge {charge.id} is already on a payment plan")
        plan_id = self.new_id("plan")
        plan = PaymentPlan(
            id=plan_id,
            charge_ids=[c.id for c in charges],
            frequency=frequency,
            installments=schedule(
                plan_id,
                sum(c.total_outstanding for c in charges),
                installments,
                installment_amount,
                frequency,
                start_date or self.clock.now().date(),
                lambda: self.new_id("ppy"),
            ),
            installment_amount=installment_amount,
            initial_amount=initial_amount,
            payment_method_id=payment_method_id,
            created_date=self.clock.now(),
            start_date=start_date,
            location_id=location_id,
        )
        self.plans[plan_id] = plan
        for charge in charges:
            charge.plan_ids.append(plan_id)
            self._settle(charge)
        return plan

    def cancel_plan(self, charge_id: str) -> bool:
        """Cancel the charge's plan: future installments CANCELLED, charges OUTSTANDING again."""
        charge = self.charge(charge_id)
        plan = self._active_plan(charge)
        if plan is None:
            raise Unprocessable(f"charge {charge_id} is not on a payment plan")
        self._cancel(plan)
        for other in plan.charge_ids:
            self._settle(self.charges[other])
        return True

    # ---- rules shared by the operations above ----

    def _movable(self, charge_id: str) -> Charge:
        charge = self.charge(charge_id)
        if charge.voided_at is not None:
            raise Unprocessable(f"charge {charge_id} is void")
        return charge

    def _record_adjustment(
        self, charge: Charge, amount: int, kind: str, reason: str, details: dict[str, Any]
    ) -> Adjustment:
        adjustment = Adjustment(
            id=self.new_id("adj"),
            charge_id=charge.id,
            amount=amount,
            adjustment_type=kind,
            reason=reason,
            created_date=self.clock.now(),
            **details,
        )
        self.adjustments[adjustment.id] = adjustment
        charge.adjustment_ids.append(adjustment.id)
        self.hooks.emit("ADJUSTMENT_CREATED", adjustment)
        return adjustment

    def _payments_of(self, charge: Charge) -> list[Payment]:
        return [self.payments[p] for p in charge.payment_ids]

    def _plans_of(self, charge: Charge) -> list[PaymentPlan]:
        return [self.plans[p] for p in charge.plan_ids]

    def _active_plan(self, charge: Charge) -> PaymentPlan | None:
        return next((p for p in self._plans_of(charge) if not p.cancelled), None)

    @staticmethod
    def _cancel(plan: PaymentPlan) -> None:
        plan.cancelled = True
        for installment in plan.installments:
            if installment.status == "SCHEDULED":
                installment.status = "CANCELLED"

    def _settle(self, charge: Charge) -> None:
        charge.status = self._derive_status(charge)

    def _derive_status(self, charge: Charge) -> str:
        """The status the numbers say, so status and money can never disagree."""
        if charge.voided_at is not None:
            return "VOID"
        if charge.total_outstanding > 0:
            return "PAYMENT_PLAN" if self._active_plan(charge) else "OUTSTANDING"
        kinds = {self.adjustments[a].adjustment_type for a in charge.adjustment_ids}
        if "WRITE_OFF" in kinds:
            return "WRITE_OFF"
        paid = [p for p in self._payments_of(charge) if p.status == "SUCCEEDED"]
        if paid and all(self.refunded(p) >= p.amount for p in paid):
            return "REFUNDED"
        if paid and all(p.external for p in paid):
            return "EXTERNAL_SETTLEMENT"
        return "PAID"


def _find(table: dict[str, Record], kind: str, record_id: str) -> Record:
    """The record with `record_id`, or a 404 naming what was not found."""
    found = table.get(record_id)
    if found is None:
        raise NotFound(kind, record_id)
    return found
