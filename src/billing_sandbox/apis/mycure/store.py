"""One MYCURE organisation's state: its statements of account, accounts and reference records."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from billing_sandbox.apis.mycure import querystring
from billing_sandbox.apis.mycure.query import Find, compile_find, run_find
from billing_sandbox.apis.mycure.records import (
    FIELD_TYPES,
    Account,
    Facility,
    InsuranceContract,
    Invoice,
    InvoiceItem,
    Organization,
    normalise_email,
    ordered,
    uid_for,
)
from billing_sandbox.clock import Clock
from billing_sandbox.errors import BadRequest, Forbidden, Issue, NotFound, ValidationFailed


@dataclass
class Reference:
    """The records statements name: facilities, customers, invoices and their items."""

    facilities: dict[str, Facility] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    contracts: dict[str, InsuranceContract] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    invoice_items: dict[str, InvoiceItem] = field(default_factory=dict)


@dataclass(frozen=True)
class FindLimits:
    default: int
    maximum: int


@lru_cache(maxsize=512)
def compiled_find(raw_query: str, limits: FindLimits) -> Find:
    """A query string parsed and compiled, once per string: a `Find` is a pure function of the
    string and the limits, and shares nothing that changes (a bad query raises every time)."""
    return compile_find(
        querystring.parse(raw_query),
        default_limit=limits.default,
        max_limit=limits.maximum,
        field_types=FIELD_TYPES,
    )


@dataclass(frozen=True)
class FindResult:
    total: int
    limit: int
    skip: int
    data: list[Mapping[str, Any]]  # the statements themselves: read them, never change them
    selected: bool = False  # only some fields of each (`$select`): not whole statements


class MycureStore:
    """Every rule of the `billing-soas` service. Records are kept as the JSON they are served
    as, in insertion order (a find with no `$sort` answers in that order, as MongoDB does)."""

    def __init__(
        self, organisation: str, reference: Reference, ids: random.Random, clock: Clock
    ) -> None:
        self.organisation = organisation
        self.reference = reference
        self.soas: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, Account] = {}
        self._ids = ids
        self._clock = clock

    # Accounts ------------------------------------------------------------------------------

    def sign_in(self, email: str) -> Account:
        """Any password is right; an unknown email of this organisation becomes an account."""
        email = normalise_email(email)
        uid = uid_for(email)
        if uid not in self.accounts:
            self.accounts[uid] = Account(uid=uid, email=email, createdAt=self.now_ms())
        return self.accounts[uid]

    def knows(self, email: str) -> bool:
        """Whether the email already has an account here (a sign-in then changes nothing)."""
        return uid_for(normalise_email(email)) in self.accounts

    def account(self, uid: str) -> Account:
        if uid not in self.accounts:
            raise NotFound("account", uid)
        return self.accounts[uid]

    # Statements of account -----------------------------------------------------------------

    def create(self, fields: dict[str, Any], caller: str) -> dict[str, Any]:
        """A new draft: the caller stamps `createdBy`; the customer's kind fills its types."""
        if fields["facility"] not in self.reference.facilities:
            raise Forbidden(
                f"facility {fields['facility']!r} is not a facility of organisation "
                f"{self.organisation!r}; see GET /_sandbox/tenants/{self.organisation}"
                "/reference/mycure for its facilities"
            )
        customer_type, customer_subtype = self.customer_types(fields["type"], fields["customer"])
        record = {
            **fields,
            "id": self.new_id(),
            "createdAt": fields.get("createdAt", self.now_ms()),
            "createdBy": caller,
            "customerType": customer_type,
        }
        if customer_subtype is not None:
            record["customerSubtype"] = customer_subtype
        self.add(record)
        return ordered(record)

    def add(self, record: dict[str, Any]) -> None:
        """Store a complete record as it is (seeding uses this too)."""
        self.soas[record["id"]] = ordered(record)

    def get(self, soa_id: str) -> dict[str, Any]:
        if soa_id not in self.soas:
            raise NotFound("billing SOA", soa_id)
        return copy.deepcopy(self.soas[soa_id])

    def patch(self, soa_id: str, changes: dict[str, Any], caller: str) -> dict[str, Any]:
        """Set, `$unset` and `finalize`; a finalized statement takes no further change."""
        record = self.get(soa_id)
        if not changes:
            return record
        if "finalizedAt" in record:
            raise BadRequest(
                f"billing SOA {soa_id} was finalized at {record['finalizedAt']} and cannot be "
                "changed any more"
            )
        changes = dict(changes)
        finalize = changes.pop("finalize", False)
        unset = changes.pop("$unset", {})
        both = sorted(set(unset) & set(changes))
        if both:
            raise ValidationFailed(
                [Issue("body", (name,), "is both set and in $unset; do one") for name in both]
            )
        record.update(changes)
        for name in unset:
            record.pop(name, None)
        if finalize:
            record["finalizedAt"] = self.now_ms()
            record["finalizedBy"] = caller
        self.soas[soa_id] = ordered(record)
        return copy.deepcopy(self.soas[soa_id])

    def remove(self, soa_id: str) -> dict[str, Any]:
        """MYCURE documents "Can only delete finalized items"."""
        record = self.get(soa_id)
        if "finalizedAt" not in record:
            raise BadRequest(
                f"billing SOA {soa_id} is a draft; only finalized SOAs can be deleted "
                '(finalize it first with PATCH {"finalize": true})'
            )
        del self.soas[soa_id]
        return record

    def find(self, raw_query: str, limits: FindLimits) -> FindResult:
        """The statements a Feathers query string selects (`type=organization&$limit=5`)."""
        find = compiled_find(raw_query, limits)
        # Not copied: the one caller serialises the page at once (a copy each cost a tenth of
        # a find).
        total, page = run_find(find, self.soas.values(), copies=False)
        selected = find.select is not None
        return FindResult(total, find.limit, find.skip, page, selected)

    # Helpers -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def new_id(self, at_ms: int | None = None) -> str:
        """A MongoDB-style ObjectId: 4 bytes of creation time in seconds, then 8 seeded bytes."""
        seconds = (self.now_ms() if at_ms is None else at_ms) // 1000
        while True:
            candidate = f"{seconds:08x}{self._ids.getrandbits(64):016x}"
            if candidate not in self.soas:
                return candidate

    def customer_types(self, soa_type: str, customer: str) -> tuple[str, str | None]:
        """An organization's own type; an insurance contract's insurer's type."""
        reference = self.reference
        if soa_type == "insurance-contract":
            contract = reference.contracts.get(customer)
            if contract is None:
                raise _bad_customer(customer, "an insurance contract", self.organisation)
            insurer = reference.organizations[contract.insurer]
        else:
            found = reference.organizations.get(customer)
            if found is None:
                raise _bad_customer(customer, "an organization", self.organisation)
            insurer = found
        return insurer.type, insurer.subtype


def _bad_customer(customer: str, kind: str, organisation: str) -> ValidationFailed:
    message = (
        f"{customer!r} is not {kind} of organisation {organisation!r} (the SOA's type says it "
        f"must be); see GET /_sandbox/tenants/{organisation}/reference/mycure"
    )
    return ValidationFailed([Issue("body", ("customer",), message)])
