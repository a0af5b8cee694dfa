"""Store state as plain JSON and back: records, id generators, and strict checks on the way in.

Everything read here comes from a user (a snapshot sent to the control API, a state file or a
spill file), so every problem is an `InvalidSnapshot` naming where it is
(`apis.decoda.charges[3].total`) and, inside a table, the record's id.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import struct
import types
from collections.abc import Callable, Collection, Iterable
from dataclasses import MISSING, fields, is_dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from billing_sandbox.state.problems import InvalidSnapshot, invalid, within

Record = TypeVar("Record")

# `random.Random.getstate()`: version 3 of CPython's Mersenne Twister, 624 words and a position.
_RNG_VERSION = 3
_RNG_WORDS = struct.Struct("<625I")
# What orjson writes as a signed integer: anything past it is refused on the way in, so that a
# store can negate and add what it holds (a reversal, a balance) and still serve it.
_INT64 = range(-(2**63), 2**63)
# Integers a record holds: the range every JSON reader (a browser's too) keeps exactly. The
# sandbox makes none larger, and sums of thousands of them stay within 64 bits.
_SAFE_INTEGERS = range(-(2**53 - 1), 2**53)


# ---- plain JSON objects ----


def obj(
    value: Any,
    path: str,
    required: Iterable[str],
    optional: Iterable[str] = (),
    *,
    extra: bool = False,
) -> Any:
    """`value` as an object with every `required` key and, unless `extra`, no key outside
    `required` and `optional` (vendor-shaped JSON may carry more)."""
    if not isinstance(value, dict):
        raise invalid(path, f"expected an object, got {_kind(value)}")
    required = tuple(required)
    missing = [key for key in required if key not in value]
    if missing:
        raise invalid(path, f"missing field {missing[0]!r}")
    allowed = {*required, *optional}
    unknown = [key for key in value if key not in allowed]
    if unknown and not extra:
        raise invalid(path, f"unknown field {unknown[0]!r}")
    return value


def typed(value: Any, kind: type, path: str) -> Any:
    """`value` if it is a JSON value of `kind` (str, int, float, bool, list or dict)."""
    # JSON has no separate boolean and integer, but Python's bool is an int: keep them apart.
    if kind in (int, float) and isinstance(value, int) and not isinstance(value, bool):
        # A number field keeps an int as it is: a store holds `10` where a body said `10.0`
        # (JSON whole numbers are read as ints), and must serve it as `10` after a restore too.
        if value not in _INT64:
            raise invalid(path, "is past the 64-bit range JSON integers are written in")
        return value
    if kind is float and isinstance(value, float):
        if not math.isfinite(value):
            raise invalid(path, f"{value!r} is not a number JSON can carry")
        return value
    if kind is not int and isinstance(value, kind):
        return value
    raise invalid(path, f"expected {_NAMES.get(kind, kind.__name__)}, got {_kind(value)}")


def safe_integer(value: Any, path: str) -> int:
    """`value` as a record's integer: one JSON readers keep exactly (|n| < 2**53)."""
    number: int = typed(value, int, path)
    if number not in _SAFE_INTEGERS:
        raise invalid(path, f"{number} is past the largest integer a record may hold (2**53 - 1)")
    return number


def table(
    rows: Any, path: str, read: Callable[[Any, str], Record], id_field: str
) -> dict[str, Record]:
    """A list of records read one by one, keyed by their `id_field`, in the order given; ids
    are unique text. A problem in a row names the row's id."""
    found: dict[str, Record] = {}
    for index, row in enumerate(typed(rows, list, path)):
        where = f"{path}[{index}]"
        given_id = row.get(id_field) if isinstance(row, dict) else None
        try:
            record = read(row, where)
            record_id = typed(given_id, str, f"{where}.{id_field}")
            if record_id in found:
                raise invalid(where, f"duplicate id {record_id!r}")
        except InvalidSnapshot as error:
            raise within(error, where, given_id) from None
        found[record_id] = record
    return found


def known(record_id: Any, ids: Collection[str], path: str, kind: str) -> None:
    """A reference to another record must name one that exists."""
    if typed(record_id, str, path) not in ids:
        raise invalid(path, f"refers to {kind} {record_id!r}, which is not in the snapshot")


# ---- dataclass records ----


def to_json(value: Any) -> Any:
    """A record (a dataclass, possibly nested) as plain JSON: instants and dates as ISO text."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def from_json(kind: type[Record], value: Any, path: str) -> Record:
    """A record (a dataclass) from what `to_json` made of one, checking every field's type.
    A field may be left out only when it has a default."""
    read: Reader = _reader(cast(Any, kind))
    record: Record = read(value, path)
    return record


Reader = Callable[[Any, str], Any]


@cache
def _reader(kind: Any) -> Reader:
    """How to read a value of `kind`, worked out once per type: a reload reads thousands of
    records, and asking `typing` about every field of every one costs most of its time."""
    origin = get_origin(kind)
    if kind is Any:
        return _as_is
    if origin in (Union, types.UnionType):
        options = [option for option in get_args(kind) if option is not type(None)]
        [only] = options  # records use `X | None`, nothing wider
        inner = _reader(only)
        if len(options) == len(get_args(kind)):
            return inner
        return lambda value, path: None if value is None else inner(value, path)
    if kind is datetime:
        return instant
    if kind is date:
        return _date
    if kind is int:
        return safe_integer
    if kind in (str, float, bool):
        return lambda value, path: typed(value, kind, path)
    if origin is list or origin is tuple:
        item = _reader(get_args(kind)[0])
        collect = list if origin is list else tuple
        return lambda value, path: collect(
            item(v, f"{path}[{i}]") for i, v in enumerate(typed(value, list, path))
        )
    if origin is dict:
        entry = _reader(get_args(kind)[1])
        return lambda value, path: {
            k: entry(v, f"{path}.{k}") for k, v in typed(value, dict, path).items()
        }
    if is_dataclass(kind):
        return _record_reader(kind)
    raise TypeError(f"snapshots cannot hold a field of type {kind!r}")  # a sandbox bug


def _record_reader(kind: Any) -> Reader:
    hints, required, optional = _shape(kind)
    readers = {name: _reader(hints[name]) for name in (*required, *optional)}
    must, may = frozenset(required), frozenset((*required, *optional))

    def record(value: Any, path: str) -> Any:
        # The common case checked at C speed; `obj` finds and names what is wrong.
        if not (isinstance(value, dict) and must <= value.keys() <= may):
            obj(value, path, required, optional)
        return kind(**{name: readers[name](v, f"{path}.{name}") for name, v in value.items()})

    return record


def _as_is(value: Any, path: str) -> Any:
    return value


def _date(value: Any, path: str) -> date:
    try:
        return date.fromisoformat(typed(value, str, path))
    except ValueError:
        raise invalid(path, f"{value!r} is not an ISO date") from None


@cache
def _shape(kind: Any) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """A record class's field types, and which fields must be given (those without defaults)."""
    hints = get_type_hints(kind)
    every = [f for f in fields(kind) if f.init]
    required = tuple(f.name for f in every if f.default is MISSING and f.default_factory is MISSING)
    optional = tuple(f.name for f in every if f.name not in required)
    return hints, required, optional


def instant(value: Any, path: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(typed(value, str, path))
    except ValueError:
        raise invalid(path, f"{value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        # Stores compare instants; a naive one would break every comparison with the clock's.
        raise invalid(path, f"{value!r} has no UTC offset")
    return moment


# ---- id generators ----


def rng_to_json(rng: random.Random) -> dict[str, Any]:
    """A generator's exact position, so ids drawn after a restore are those that would have
    been drawn without it."""
    version, words, gauss_next = rng.getstate()
    return {
        "version": version,
        "state": base64.b64encode(_RNG_WORDS.pack(*words)).decode(),
        "gauss_next": gauss_next,
    }


def rng_from_json(value: Any, path: str) -> random.Random:
    given = obj(value, path, ("version", "state", "gauss_next"))
    if given["version"] != _RNG_VERSION:
        raise invalid(f"{path}.version", f"expected {_RNG_VERSION}, got {given['version']!r}")
    try:
        raw = base64.b64decode(typed(given["state"], str, f"{path}.state"), validate=True)
        words = _RNG_WORDS.unpack(raw)
    except (binascii.Error, struct.error):
        problem = f"expected base64 of {_RNG_WORDS.size} bytes"
        raise invalid(f"{path}.state", problem) from None
    gauss_next = given["gauss_next"]
    if gauss_next is not None:
        gauss_next = typed(gauss_next, float, f"{path}.gauss_next")
    # Fake records' ids, reproducible by design: no secret is ever drawn from it.
    rng = random.Random()  # noqa: S311
    try:
        rng.setstate((_RNG_VERSION, words, gauss_next))
    except (ValueError, TypeError, OverflowError) as error:
        raise invalid(f"{path}.state", str(error)) from None
    return rng


_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
          list: "an array", dict: "an object"}  # fmt: skip


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return _NAMES.get(type(value), type(value).__name__)
