"""The shapes MYCURE deals in: statement-of-account fields, the reference records they name, and
accounts (an email names its organisation, the tenant, and by a hash its uid)."""

from __future__ import annotations

import hashlib
import string
from dataclasses import asdict, dataclass, field
from typing import Any

# Fields a client may set on create besides the three required ones (api-docs v5.45.0).
OPTIONAL_FIELDS = (
    "externalSOAId",
    "template",
    "LOANo",
    "invoices",
    "invoiceItems",
    "startAt",
    "endAt",
    "preparedAt",
    "receivedAt",
    "paymentTerms",
    "note",
    "coveragePaymentMethod",
)
# Patchable per api-docs v5.116.0 ("Billing SOA - Patch"); `createdAt` too, but it cannot be
# removed, being required.
PATCHABLE_FIELDS = (*OPTIONAL_FIELDS, "createdAt")
UNSETTABLE_FIELDS = OPTIONAL_FIELDS
# The order fields appear in a record, as the docs list them.
SOA_FIELDS = (
    "id",
    "facility",
    "type",
    "externalSOAId",
    "customer",
    "template",
    "LOANo",
    "invoices",
    "invoiceItems",
    "startAt",
    "endAt",
    "preparedAt",
    "receivedAt",
    "paymentTerms",
    "note",
    "coveragePaymentMethod",
    "createdAt",
    "createdBy",
    "finalizedAt",
    "finalizedBy",
    "customerType",
    "customerSubtype",
)
# Types of the fields a find may filter on, so plain query text (`createdAt[$gt]=1564…`)
# compares as the number it is, as `#`-tagged values do.
FIELD_TYPES = {
    name: "number"
    for name in ("startAt", "endAt", "preparedAt", "receivedAt", "paymentTerms", "createdAt")
} | {"finalizedAt": "number"}


def ordered(record: dict[str, Any]) -> dict[str, Any]:
    """A statement with its fields in the documented order (the order JSON shows them in)."""
    return {name: record[name] for name in SOA_FIELDS if name in record}


@dataclass(frozen=True, slots=True)
class Facility:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Organization:
    """A customer billed directly: an HMO, a government payer or a corporate partner."""

    id: str
    name: str
    type: str  # insurance | corporate-partner
    subtype: str | None = None  # hmo | government, for insurers


@dataclass(frozen=True, slots=True)
class InsuranceContract:
    """A facility's contract with an insurer or company (MYCURE's insurer-insured pattern)."""

    id: str
    type: str  # insurance-facility | corporate-partner-facility
    insured: str  # the facility
    insurer: str  # the organization
    insurerName: str  # noqa: N815 (MYCURE's field name)


@dataclass(frozen=True, slots=True)
class InvoiceItem:
    id: str
    invoice: str
    facility: str
    name: str
    price: int  # whole pesos
    contract: str | None = None  # the insurance contract covering it, if any


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    facility: str
    createdAt: int  # noqa: N815
    items: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Account:
    uid: str
    email: str
    createdAt: int  # noqa: N815

    def as_json(self) -> dict[str, Any]:
        return {"id": self.uid, "uid": self.uid, "email": self.email, "createdAt": self.createdAt}


def as_json(record: Any) -> dict[str, Any]:
    """A reference record as the reference listing shows it (None fields left out)."""
    return {key: value for key, value in asdict(record).items() if value is not None}


_BASE62 = string.digits + string.ascii_letters
UID_LENGTH = 28  # the length of the Firebase-style uids MYCURE accounts carry


def normalise_email(email: str) -> str:
    return email.strip().lower()


def organisation_of(email: str) -> str:
    """`ana@clinic-a.test` → `clinic-a.test`: colleagues share an organisation's records."""
    return normalise_email(email).rpartition("@")[2]


def uid_for(email: str) -> str:
    """The same email always gets the same uid, on any machine and after any reset, so a
    token cached by a browser keeps naming the same account."""
    number = int.from_bytes(hashlib.sha256(f"mycure:{normalise_email(email)}".encode()).digest())
    chars = []
    for _ in range(UID_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)
