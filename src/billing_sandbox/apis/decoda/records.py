"""Decoda's records as the store keeps them; each API generation renders them in its own shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

# Mediums that move money through the card processor; anything else settles externally.
CARD_MEDIUMS = frozenset(
    {"POS", "VIRTUAL_TERMINAL", "PAYMENT_LINK", "PAYMENT_PLAN", "SUBSCRIPTION",
     "SAVED_PAYMENT_METHOD", "MEMBERSHIP", "EMBEDDED_TERMINAL"}
)  # fmt: skip


@dataclass(slots=True)
class Patient:
    id: str
    created_date: datetime
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    date_of_birth: str | None = None  # as sent: an ISO date
    gender: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None
    meta: dict[str, Any] | None = None
    patient_source: str | None = None
    type: str = "PATIENT"
    credit_balance: int = 0


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    id: str
    name: str
    price: int
    description: str | None = None
    category: str | None = None
    unit: str | None = None
    type: str = "SERVICE"


@dataclass(frozen=True, slots=True)
class Line:
    """One charge line: a catalogue item or a custom line, with its own discount and tax."""

    id: str
    charge_id: str
    quantity: int
    price: int
    item_id: str | None = None
    name: str | None = None
    description: str | None = None
    discount_amount: int | None = None
    discount_percentage: float | None = None
    discount_reason: str | None = None
    tax_amount: int | None = None


@dataclass(slots=True)
class Charge:
    id: str
    patient_id: str
    created_date: datetime
    total: int
    total_outstanding: int
    status: str = "OUTSTANDING"
    lines: list[Line] = field(default_factory=list)
    custom_amount: int = 0
    discount_amount: int = 0
    discount_percentage: float = 0.0
    description: str | None = None
    comment: str | None = None
    external_id: str | None = None
    external_created_date: str | None = None  # as sent: the client's own timestamp
    creator_id: str | None = None
    location_id: str | None = None
    rule_set_id: str | None = None
    meta: dict[str, Any] | None = None
    patient_pays_processing_fee: bool = False
    # What the store keeps to explain the numbers (never rendered as such).
    payment_ids: list[str] = field(default_factory=list)
    adjustment_ids: list[str] = field(default_factory=list)
    plan_ids: list[str] = field(default_factory=list)
    voided_at: datetime | None = None
    voided_amount: int = 0
    archived: bool = False


@dataclass(slots=True)
class Refund:
    id: str
    payment_id: str
    amount: int
    reason: str
    created_date: datetime
    provider_id: str | None = None
    description: str | None = None
    status: str = "SUCCEEDED"


@dataclass(slots=True)
class Payment:
    id: str
    amount: int
    payment_medium: str
    created_date: datetime
    patient_id: str | None
    # charge id -> the part of this payment applied to that charge
    allocations: dict[str, int] = field(default_factory=dict)
    refund_ids: list[str] = field(default_factory=list)
    status: str = "SUCCEEDED"
    failed_reason: str | None = None
    failed_at: datetime | None = None
    fee: int = 0
    fee_to_patient: int = 0

    @property
    def external(self) -> bool:
        return self.payment_medium not in CARD_MEDIUMS and self.payment_medium != "PATIENT_CREDIT"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """An ADJUSTMENT (signed: positive raises the charge) or a WRITE_OFF (the amount cleared)."""

    id: str
    charge_id: str
    amount: int
    adjustment_type: str
    reason: str
    created_date: datetime
    provider_id: str | None = None
    location_id: str | None = None


@dataclass(slots=True)
class Installment:
    id: str
    plan_id: str
    amount: int
    payment_date: date
    status: str = "SCHEDULED"


@dataclass(slots=True)
class PaymentPlan:
    id: str
    charge_ids: list[str]
    frequency: str
    installments: list[Installment]
    installment_amount: int
    initial_amount: int
    payment_method_id: str
    created_date: datetime
    start_date: date | None = None
    location_id: str | None = None
    cancelled: bool = False


@dataclass(slots=True)
class Webhook:
    """A receiver the tenant registered: the events it subscribes to and the secret that signs
    what it is sent. Deleting one archives it: it keeps its deliveries and gets nothing new."""

    id: str
    url: str
    subscriptions: list[str]
    secret: str
    created_date: datetime
    notification_email: str | None = None
    updated_date: datetime | None = None
    archived: bool = False


@dataclass(slots=True)
class Try:
    """One POST of an event to a webhook: when (tenant's clock), the receiver's status or why
    there was none, and how long it took in real time."""

    at: datetime
    status: int | None
    error: str | None
    duration_ms: float


@dataclass(slots=True)
class Delivery:
    """One event for one webhook (Decoda's "delivery attempt"): the envelope it is sent, and
    how its tries went. `next_due` is when the next try falls due on the tenant's clock (None:
    delivered, out of tries, or being sent: `in_flight`)."""

    id: str
    webhook_id: str
    event_id: str
    type: str
    data: dict[str, Any]
    created_date: datetime
    alert_id: str
    tries: int = 0
    delivered_date: datetime | None = None
    last_attempt_date: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    next_due: datetime | None = None
    in_flight: bool = False
    history: list[Try] = field(default_factory=list)
