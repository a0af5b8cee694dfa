"""The Candid write-offs store: every rule, state transition and index lives here."""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from billing_sandbox.apis.candid.ids import uuid4_text
from billing_sandbox.apis.candid.paging import Key, PageTokens, SortedKeys, cut_page
from billing_sandbox.apis.candid.records import (
    BalanceAdjustment,
    ReferenceData,
    ServiceLine,
    WriteOff,
)
from billing_sandbox.apis.candid.timestamps import render, sort_micros
from billing_sandbox.clock import Clock
from billing_sandbox.errors import NotFound, Unprocessable

SORT_FIELDS = ("amount_cents", "write_off_timestamp", "write_off_note")
# The `account_types` filter value for each write-off variant.
ACCOUNT_TYPE = {
    "patient": "PATIENT",
    "insurance": "INSURANCE",
    "non_insurance_payer": "THIRD_PARTY_PAYER",
}
# Filters that select by one id each; the store keeps an index per filter.
ID_FILTERS = (
    "patient_external_id",
    "payer_uuid",
    "service_line_id",
    "claim_id",
    "billing_provider_id",
)
OPTIONAL_TEXT = ("write_off_note", "custom_write_off_reason")


# Not frozen: a frozen dataclass sets each field through `object.__setattr__`, and one is
# built for every page read; it is only read.
@dataclass(slots=True)
class WriteOffQuery:
    """The typed query of `GET /api/write-offs/v1`."""

    limit: int = 100
    sort: str = "write_off_timestamp"
    sort_direction: str = "desc"
    page_token: str | None = None
    account_types: tuple[str, ...] = ()
    patient_external_id: str | None = None
    payer_uuid: str | None = None
    service_line_id: str | None = None
    claim_id: str | None = None
    billing_provider_id: str | None = None

    def binding(self) -> dict[str, Any]:
        """What a page token is bound to: everything but the page size and the token."""
        filters = {name: getattr(self, name) for name in ID_FILTERS if getattr(self, name)}
        return {
            **filters,
            "account_types": sorted(set(self.account_types)),
            "sort": self.sort,
            "sort_direction": self.sort_direction,
        }


_ID_OF_KEY = itemgetter(1)  # a sort key is (sort value, write-off id)


class CandidStore:
    """One tenant's write-offs over its reference data."""

    def __init__(
        self, reference: ReferenceData, ids: random.Random, clock: Clock, tokens: PageTokens
    ):
        self.reference = reference
        self._ids = ids
        self._clock = clock
        self._tokens = tokens
        self._write_offs: dict[str, WriteOff] = {}
        # Each index is built when a read first needs it, then kept up to date: most tenants
        # never sort by amount or note, nor filter, and a seeded tenant's filter index and
        # sorted keys weighed more than its write-offs (a set per filter value; issue 33).
        self._sorted: dict[str, SortedKeys] = {}
        # filter name -> filter value -> write-off ids; account type -> ids (both empty until
        # built, and once built they have a key for every filter and account type)
        self._by_filter: dict[str, dict[str, set[str]]] = {}
        self._by_account: dict[str, set[str]] = {}

    # ---- reads ----

    def get_write_off(self, write_off_id: str) -> WriteOff:
        record = self._write_offs.get(_canonical(write_off_id))
        if record is None:
            raise NotFound("write-off", write_off_id)
        return record

    def find(self, write_off_id: str | None) -> WriteOff | None:
        return None if write_off_id is None else self._write_offs.get(write_off_id)

    def list_write_offs(self, query: WriteOffQuery) -> dict[str, Any]:
        """A page of write-offs, and the tokens of the pages after and before it."""
        ids, tokens = self.page_of_write_offs(query)
        return {"items": [self._write_offs[i] for i in ids], **tokens}

    def page_of_write_offs(self, query: WriteOffQuery) -> tuple[list[str], dict[str, str]]:
        """The ids on a page, in order, and the tokens of the pages after and before it (a
        reader that keeps renderings by id needs no record it already rendered)."""
        binding = query.binding()
        cursor: Key | None = None
        backwards = False
        if query.page_token:
            cursor, backwards = self._tokens.read(query.page_token, binding)
        ascending = query.sort_direction == "asc"
        keys, ids = self._candidates(query)
        page = cut_page(keys, ascending, cursor, backwards, query.limit)
        tokens = {}
        if page.next_cursor is not None:
            tokens["next_page_token"] = self._tokens.make(page.next_cursor, False, binding)
        if page.prev_cursor is not None:
            tokens["prev_page_token"] = self._tokens.make(page.prev_cursor, True, binding)
        return page.of(ids), tokens

    def _candidates(self, query: WriteOffQuery) -> tuple[list[Key], list[str]]:
        """The keys in sort order, and the ids beside them: all of them when unfiltered (kept
        so, never copied), else only the matches."""
        every = self._sorted.get(query.sort)
        if every is None:
            every = self._sort_by(query.sort)
        named = [(name, value) for name in ID_FILTERS if (value := getattr(query, name))]
        if not named and not query.account_types:
            return every.keys, every.ids
        if not self._by_filter:
            self._index_filters()
        sets = [
            self._by_filter[name].get(
                _canonical(value) if name != "patient_external_id" else value, set()
            )
            for name, value in named
        ]
        if query.account_types:
            sets.append(set().union(*(self._by_account[t] for t in set(query.account_types))))
        sets.sort(key=len)
        matching = set(sets[0]).intersection(*sets[1:])
        keys = sorted(_sort_key(self._write_offs[i], query.sort) for i in matching)
        return keys, list(map(_ID_OF_KEY, keys))

    # ---- writes ----

    def create_write_offs(self, items: list[dict[str, Any]]) -> list[WriteOff]:
        """Create every item or none: all references are resolved before anything is stored."""
        built = [self._build(item) for item in items]
        for record in built:
            self._insert(record)
        return built

    def revert(self, some_id: str) -> WriteOff:
        """Revert a write-off, or an insurance balance adjustment; both ids share one URL."""
        key = _canonical(some_id)
        if key in self._write_offs:
            return self._revert_write_off(self._write_offs[key])
        adjustment = self.reference.adjustments.get(key)
        if adjustment is None:
            raise NotFound("write-off or insurance balance adjustment", some_id)
        if adjustment.era_originated:
            raise Unprocessable(
                f"insurance balance adjustment {key} originated from an ERA; "
                "revert it with POST /api/write-offs/v1/{adjustment_id}/revert-era-originated"
            )
        return self._revert_adjustment(adjustment)

    def revert_era_originated(self, adjustment_id: str) -> str:
        key = _canonical(adjustment_id)
        adjustment = self.reference.adjustments.get(key)
        if adjustment is None:
            raise NotFound("insurance balance adjustment", adjustment_id)
        if not adjustment.era_originated:
            raise Unprocessable(
                f"insurance balance adjustment {key} did not originate from an ERA; "
                "revert it with POST /api/write-offs/v1/{write_off_id}/revert"
            )
        self._mark_reverted(adjustment)
        return key

    def _revert_write_off(self, original: WriteOff) -> WriteOff:
        original_id = original["write_off_id"]
        if "reverts_write_off_id" in original:
            raise Unprocessable(
                f"write-off {original_id} is itself a reversal (of "
                f"{original['reverts_write_off_id']}) and cannot be reverted"
            )
        if "reverted_by_write_off_id" in original:
            raise Unprocessable(
                f"write-off {original_id} has already been reverted by "
                f"{original['reverted_by_write_off_id']}"
            )
        reversal = {
            k: v for k, v in original.items() if k not in ("write_off_id", "write_off_timestamp")
        }
        reversal.update(
            write_off_id=self._new_id(),
            write_off_timestamp=render(self._clock.now()),
            amount_cents=-original["amount_cents"],
            reverts_write_off_id=original_id,
        )
        self._insert(_ordered(reversal))
        self._write_offs[original_id] = _ordered(
            {**original, "reverted_by_write_off_id": reversal["write_off_id"]}
        )
        return self._write_offs[reversal["write_off_id"]]

    def _revert_adjustment(self, adjustment: BalanceAdjustment) -> WriteOff:
        self._mark_reverted(adjustment)
        offset = {
            "type": "insurance",
            "write_off_id": self._new_id(),
            "payer": self.reference.payers[adjustment.payer_uuid],
            "write_off_target": {"type": "service_line_id", "value": adjustment.service_line_id},
            "write_off_timestamp": render(self._clock.now()),
            "write_off_note": f"Reverts insurance balance adjustment {adjustment.adjustment_id}",
            "write_off_reason": "OTHER",
            "amount_cents": -adjustment.amount_cents,
        }
        self._insert(offset)
        return offset

    @staticmethod
    def _mark_reverted(adjustment: BalanceAdjustment) -> None:
        if adjustment.reverted:
            raise Unprocessable(
                f"insurance balance adjustment {adjustment.adjustment_id} has already been reverted"
            )
        adjustment.reverted = True

    def _build(self, item: dict[str, Any]) -> WriteOff:
        """Resolve one create item's references into a complete write-off (not yet stored)."""
        kind = item["type"]
        record: WriteOff = {"type": kind, "write_off_id": self._new_id()}
        if kind == "patient":
            line = self._service_line(item["service_line_id"])
            record.update(
                patient_external_id=line.patient_external_id,
                claim_id=line.claim_id,
                service_line_id=line.service_line_id,
            )
        elif kind == "insurance":
            record.update(
                payer=self._payer(item["payer_identifier"]),
                write_off_target=self._target(item["write_off_target"]),
            )
        else:
            record.update(
                non_insurance_payer=self._non_insurance_payer(item["non_insurance_payer_id"]),
                service_line_id=self._service_line(item["service_line_id"]).service_line_id,
            )
        record.update(
            write_off_timestamp=item["write_off_timestamp"],
            write_off_reason=item["write_off_reason"],
            amount_cents=item["amount_cents"],
        )
        record.update({k: item[k] for k in OPTIONAL_TEXT if item.get(k) is not None})
        return _ordered(record)

    def load(self, records: list[WriteOff]) -> None:
        """Store complete records as they are (seed data and fixtures), sorting once."""
        ordered = [_ordered(record) for record in records]
        for record in ordered:
            self._index(record)
        for name, keys in self._sorted.items():
            keys.add_many([_sort_key(record, name) for record in ordered])

    def put(self, record: WriteOff) -> None:
        """Store a complete record (a recorded answer's), replacing one with its id."""
        old = self._write_offs.get(record["write_off_id"])
        if old is not None:
            self._unindex(old)
        self._insert(_ordered(record))

    def _unindex(self, record: WriteOff) -> None:
        record_id = record["write_off_id"]
        del self._write_offs[record_id]
        if self._by_filter:
            for name, value in self._facets(record).items():
                self._by_filter[name][value].discard(record_id)
            self._by_account[ACCOUNT_TYPE[record["type"]]].discard(record_id)
        for name, keys in self._sorted.items():
            keys.remove(_sort_key(record, name))

    def _insert(self, record: WriteOff) -> None:
        self._index(record)
        for name, keys in self._sorted.items():
            keys.add(_sort_key(record, name))

    def _index(self, record: WriteOff) -> None:
        """Store a record and index it for filtering (the sorted keys are the caller's job)."""
        record_id = record["write_off_id"]
        self._write_offs[record_id] = record
        if self._by_filter:
            self._index_filtered(record)

    def _index_filtered(self, record: WriteOff) -> None:
        record_id = record["write_off_id"]
        for name, value in self._facets(record).items():
            self._by_filter[name].setdefault(value, set()).add(record_id)
        self._by_account[ACCOUNT_TYPE[record["type"]]].add(record_id)

    def _sort_by(self, field: str) -> SortedKeys:
        """The keys of every write-off sorted by `field`, made on first use (one sort)."""
        if field not in SORT_FIELDS:
            raise KeyError(field)
        keys = self._sorted[field] = SortedKeys()
        keys.add_many([_sort_key(record, field) for record in self._write_offs.values()])
        return keys

    def _index_filters(self) -> None:
        """The filters' index over every write-off, made on the first filtered read."""
        self._by_filter = {name: {} for name in ID_FILTERS}
        self._by_account = {kind: set() for kind in ACCOUNT_TYPE.values()}
        for record in self._write_offs.values():
            self._index_filtered(record)

    def _facets(self, record: WriteOff) -> dict[str, str]:
        """The id filters a write-off matches, through what it points at."""
        ref = self.reference
        facets: dict[str, str] = {}
        if record["type"] == "insurance":
            facets["payer_uuid"] = record["payer"]["payer_uuid"]
            target = record["write_off_target"]
            if target["type"] == "billing_provider_id":
                facets["billing_provider_id"] = target["value"]
                return facets
            if target["type"] == "claim_id":
                claim = ref.claims[target["value"]]
                return facets | {
                    "claim_id": claim.claim_id,
                    "patient_external_id": claim.patient_external_id,
                    "billing_provider_id": claim.billing_provider_id,
                }
            line_id = target["value"]
        else:
            line_id = record["service_line_id"]
        line = ref.service_lines[line_id]
        return facets | {
            "service_line_id": line.service_line_id,
            "claim_id": line.claim_id,
            "patient_external_id": line.patient_external_id,
            "billing_provider_id": line.billing_provider_id,
        }

    # ---- lookups ----

    def _service_line(self, service_line_id: str) -> ServiceLine:
        line = self.reference.service_lines.get(_canonical(service_line_id))
        if line is None:
            raise NotFound("service line", service_line_id)
        return line

    def _payer(self, identifier: dict[str, Any]) -> dict[str, Any]:
        if identifier["type"] == "payer_uuid":
            payer = self.reference.payers.get(_canonical(identifier["value"]))
            missing = identifier["value"]
        else:
            payer = self.reference.payer_by_info(identifier["payer_id"], identifier["payer_name"])
            missing = identifier["payer_id"]
        if payer is None:
            raise NotFound("payer", missing)
        return payer

    def _target(self, target: dict[str, Any]) -> dict[str, str]:
        value = _canonical(target["value"])
        known: dict[str, Collection[str]] = {
            "service_line_id": self.reference.service_lines,
            "claim_id": self.reference.claims,
            "billing_provider_id": self.reference.billing_provider_ids,
        }
        if value not in known[target["type"]]:
            raise NotFound(target["type"].removesuffix("_id").replace("_", " "), target["value"])
        return {"type": target["type"], "value": value}

    def _non_insurance_payer(self, payer_id: str) -> dict[str, Any]:
        payer = self.reference.non_insurance_payers.get(_canonical(payer_id))
        if payer is None:
            raise NotFound("non-insurance payer", payer_id)
        return payer

    def _new_id(self) -> str:
        return uuid4_text(self._ids.getrandbits(128))

    def all_write_offs(self) -> list[WriteOff]:
        """Every write-off, in the order they were made (what a snapshot holds)."""
        return list(self._write_offs.values())


def _canonical(some_id: str) -> str:
    """Uuids are stored lower-case and hyphenated; the spec has already checked the format."""
    if some_id.islower() or some_id.isdigit():
        return some_id  # already canonical: the common case, and no parsing needed
    try:
        return str(uuid.UUID(some_id))
    except ValueError:
        return some_id


def _sort_key(record: WriteOff, field: str) -> Key:
    record_id = record["write_off_id"]
    if field == "amount_cents":
        return (record["amount_cents"], record_id)
    if field == "write_off_timestamp":
        return (sort_micros(record["write_off_timestamp"]), record_id)
    # A write-off without a note sorts as an empty note.
    return (record.get("write_off_note") or "", record_id)


_FIELD_ORDER = (
    "type",
    "write_off_id",
    "payer",
    "non_insurance_payer",
    "write_off_target",
    "write_off_timestamp",
    "write_off_note",
    "write_off_reason",
    "custom_write_off_reason",
    "patient_external_id",
    "claim_id",
    "service_line_id",
    "reverts_write_off_id",
    "reverted_by_write_off_id",
    "amount_cents",
)


def _ordered(record: WriteOff) -> WriteOff:
    """Fields in the order Candid's docs print them, so dumps and responses read the same."""
    return {name: record[name] for name in _FIELD_ORDER if name in record}
