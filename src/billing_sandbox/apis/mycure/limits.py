"""What one MYCURE find may cost: each limit a client's query is held to, why its number, and
the tally that holds a query to them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from billing_sandbox.errors import BadRequest

# The parser (querystring.py) already holds a query to qs's own limits: 1000 parameters,
# brackets 5 deep, array indexes up to 20. The limits below bound what a query that fits them
# can still make a find do per statement; past any of them, a find is Feathers' BadRequest
# naming the limit. A find's time is then linear in the organisation's statements (which only
# the seed and the tenant's own writes add): measured, a find at every limit at once costs
# about 60 us a statement, most of it the 32 sorts (0.1 s over the 2000 statements of
# `--records 10000`, 1.2 s over 20 000); an everyday find costs a few us a statement.

# `$regex`: a search a person types. Longer patterns are no search a sandbox needs, and the
# cap keeps compiling one (once per query string, cached) trivially cheap.
MAX_REGEX_LENGTH: Final = 256
# RE2's memory budget per pattern, its program and the lazy DFA's cache together (RE2's
# default is 8 MiB). Up to 512 compiled finds are kept for reuse, so this bounds what their
# patterns hold. A DFA that outgrows it falls back to RE2's NFA, still linear in the text.
REGEX_MEMORY_BYTES: Final = 1 << 20
# RE2 instructions per pattern. A search costs at worst ~3 ns per byte of text per
# instruction (measured: DFA-defeating patterns such as `(?i)[a-q][^u-z]{100}x`), so this is
# the worst per-byte price of a pattern. 2000 admits one Unicode class (`\pL` is 1201) or
# `.{0,200}` (1804); everyday searches (`^INV-\d{4}`, `(?i)dela\s+cruz`) take 8 to 60.
MAX_REGEX_INSTRUCTIONS: Final = 2000
# A find's matching budget: over its patterns, instructions times UTF-8 bytes of the text each may
# be run on (the values of its field across the tenant). 2**24 is ~50 ms at the worst rate
# above, and still lets an everyday pattern of 8-16 instructions search 1-2 MB of text.
MAX_REGEX_WORK: Final = 1 << 24
# Values across every `$in` and `$nin` list of a query (items of a nested array or object
# value count one each). A client sends a page of ids it found elsewhere; half of qs's
# parameter limit leaves room for the rest of the query. Scalar values are looked up in a
# hash set, so a record costs one lookup however many there are.
MAX_LIST_VALUES: Final = 500
# Conditions a record is tested against: each field's value or operator, each `$or`/`$and`
# branch, and each array or object value of an `$in`/`$nin` list (compared, not hashed).
# At ~50 ns a condition, 100 keep a find over 20 000 statements near 0.1 s; a hand-written or
# SDK query names a handful.
MAX_FILTER_TERMS: Final = 100
# `$or`/`$and` nested inside each other. qs's depth of 5 brackets reaches three levels at
# most (`$or[0][$and][0][$or][0]`); the limit keeps compiling bounded whatever the parser
# lets through.
MAX_LOGIC_DEPTH: Final = 3
# `$sort` keys: MongoDB's own limit ("you can sort on a maximum of 32 keys"). Each key is one
# stable sort of the matching records.
MAX_SORT_KEYS: Final = 32
# `$select` field names: a statement has about 25 fields, so 100 names every one with room to
# spare (a selection is a hash set: its size costs nothing per record).
MAX_SELECT_FIELDS: Final = 100


@dataclass(frozen=True)
class Scan:
    """A `$regex` a find runs over a field's values, and what a byte of them costs, at worst."""

    name: str  # the parameter, for messages: `note[$regex]`
    field: str
    instructions: int


@dataclass
class Tally:
    """What a query costs as it compiles, held to the limits as it grows: a query past one is
    refused before the rest of it is compiled."""

    terms: int = 0
    values: int = 0
    scans: list[Scan] = field(default_factory=list)

    def add_terms(self, count: int, name: str) -> None:
        self.terms += count
        if self.terms > MAX_FILTER_TERMS:
            raise BadRequest(
                f"The query has more than {MAX_FILTER_TERMS} conditions (the limit is crossed "
                f"at {name}); the sandbox runs at most {MAX_FILTER_TERMS} in one find"
            )

    def add_values(self, count: int, name: str) -> None:
        self.values += count
        if self.values > MAX_LIST_VALUES:
            raise BadRequest(
                f"The query's $in and $nin lists hold more than {MAX_LIST_VALUES} values (the "
                f"limit is crossed at {name}); the sandbox accepts at most {MAX_LIST_VALUES} "
                "in one find"
            )


def value_count(value: Any) -> int:
    """How many values one list item is: an array or object counts its items (at least one)."""
    if isinstance(value, list):
        return max(1, sum(value_count(item) for item in value))
    if isinstance(value, Mapping):
        return max(1, sum(value_count(item) for item in value.values()))
    return 1


def check_scans(scans: tuple[Scan, ...], records: list[Mapping[str, Any]]) -> None:
    """Refuse a find whose patterns could cost more than MAX_REGEX_WORK: each costs, at worst,
    its RE2 instructions for every byte of its field's text across the records. Priced from
    the data before any matching, so whether a find is refused does not depend on the
    machine's speed."""
    work = 0
    for scan in scans:
        size = sum(_text_bytes(record.get(scan.field)) for record in records)
        work += scan.instructions * size
        if work > MAX_REGEX_WORK:
            raise BadRequest(
                f"{scan.name} would run {scan.instructions} RE2 instructions over {size} "
                f"bytes of {scan.field}, past the {MAX_REGEX_WORK} (instructions times bytes) "
                "the sandbox spends matching in one find: use a simpler pattern"
            )


def _text_bytes(value: Any) -> int:
    """The UTF-8 bytes a `$regex` reads in a field's value (text, or the text in an array)."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode())
    if isinstance(value, list):
        return sum(_text_bytes(item) for item in value if isinstance(item, str))
    return 0
