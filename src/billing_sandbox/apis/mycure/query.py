"""Feathers queries on a MongoDB-backed service: validated, compiled to a `Find`, run on records."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from billing_sandbox.apis.mycure.limits import (
    MAX_LOGIC_DEPTH,
    MAX_SELECT_FIELDS,
    MAX_SORT_KEYS,
    Scan,
    Tally,
    check_scans,
    value_count,
)
from billing_sandbox.apis.mycure.querystring import describe, is_number, number_from_text
from billing_sandbox.apis.mycure.regex import Regex, compile_regex
from billing_sandbox.errors import BadRequest

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

_PAGING: Final = ("$limit", "$skip", "$sort", "$select")
_UNSUPPORTED: Final = ("$populate", "$search", "$project")
_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}
_OPERATORS: Final = {"$in", "$nin", "$ne", "$exists", "$regex", "$options", *_COMPARISONS}
_INDEX: Final = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Find:
    """A compiled query: which records match, their order, the page, and the fields returned."""

    matches: Predicate
    sort: tuple[tuple[str, int], ...]  # (field, 1 | -1), first key first
    select: tuple[str, ...] | None  # None: every field
    limit: int
    skip: int
    scans: tuple[Scan, ...] = ()  # its `$regex` tests, held to MAX_REGEX_WORK per run


def compile_find(
    query: Mapping[str, Any],
    *,
    default_limit: int,
    max_limit: int,
    field_types: Mapping[str, str],
) -> Find:
    """Validate a parsed Feathers query and compile it; a mistake is a 400 naming the parameter.

    `field_types` maps field → "number" | "string" | ...; text sent for a "number" field must
    parse as one. A `$limit` above `max_limit` is clamped to it, as Feathers' paginate does.
    A query past one of the limits in limits.py is a 400 naming the limit.
    """
    filters = {key: value for key, value in query.items() if key not in _PAGING}
    limit = _count(query["$limit"], "$limit") if "$limit" in query else default_limit
    tally = Tally()
    return Find(
        matches=_compile_query(filters, "", field_types, tally, 0),
        sort=_sort(query["$sort"]) if "$sort" in query else (),
        select=_select(query["$select"]) if "$select" in query else None,
        limit=min(limit, max_limit),
        skip=_count(query["$skip"], "$skip") if "$skip" in query else 0,
        scans=tuple(tally.scans),
    )


def run_find(
    find: Find, records: Iterable[Record], copies: bool = True
) -> tuple[int, list[Record]]:
    """(how many records match, the page of them after sort, skip, limit and select). The
    page holds copies, unless `copies` is False and nothing is selected: then the records
    themselves, for a caller that only serialises them.

    The work is linear in records times the query's size, which the limits bound; its `$regex`
    tests are also held to a matching budget over the text they would search."""
    if find.scans:
        records = list(records)  # read twice: priced, then matched
        check_scans(find.scans, records)
    matching = [record for record in records if find.matches(record)]
    # Stable sorts from the last key to the first give a multi-key sort in which each key may
    # have its own direction, without needing keys that invert for mixed types.
    for field, direction in reversed(find.sort):
        descending = direction == -1
        if all(type(record.get(field)) in _PLAIN_NUMBERS for record in matching):
            # Numbers only (a timestamp, an amount): their own order is Mongo's, and the
            # field itself is the key.
            matching.sort(key=operator.itemgetter(field), reverse=descending)
            continue
        matching.sort(
            key=partial(_record_key, field=field, descending=descending), reverse=descending
        )
    page = matching[find.skip : find.skip + find.limit]
    if find.select is None and not copies:
        return len(matching), page
    chosen = None if find.select is None else frozenset(find.select)
    return len(matching), [_project(record, chosen) for record in page]


_PLAIN_NUMBERS = (int, float)  # by `type`, so not bool


def _count(value: Any, name: str) -> int:
    """A non-negative integer `$limit` or `$skip`, sent as text (`10`) or tagged (`#10`)."""
    number = number_from_text(value) if isinstance(value, str) else value
    if is_number(number) and number >= 0 and (isinstance(number, int) or number.is_integer()):
        return int(number)
    raise BadRequest(f"{name} must be a non-negative integer, got {describe(value)}")


def _sort(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"$sort must be an object like $sort[createdAt]=-1, got {describe(value)}")
    if len(value) > MAX_SORT_KEYS:
        raise BadRequest(
            f"$sort has {len(value)} keys; the sandbox, like MongoDB, sorts on at most "
            f"{MAX_SORT_KEYS}"
        )
    return tuple((field, _direction(way, f"$sort[{field}]")) for field, way in value.items())


def _direction(value: Any, name: str) -> int:
    if (is_number(value) and value in (1, -1)) or value in ("1", "-1"):
        return int(value)
    raise BadRequest(f"{name} must be 1 or -1, got {describe(value)}")


def _select(value: Any) -> tuple[str, ...]:
    """`$select` as a list, one name, or `{field: 1}`; exclusion (`{field: 0}`) is refused."""
    fields = [value] if isinstance(value, str) else _as_list(value)
    if fields is None and isinstance(value, Mapping):
        for field, flag in value.items():
            if flag not in (1, "1"):
                raise BadRequest(
                    f"$select[{field}] must be 1 (the sandbox cannot exclude fields), "
                    f"got {describe(flag)}"
                )
        fields = list(value)
    if fields is not None:
        # `#[]` (an empty list) names no field, also when repeated beside names
        # (`$select=type&$select=#[]`).
        fields = [field for field in fields if field != []]
    if fields is None or not all(field and isinstance(field, str) for field in fields):
        raise BadRequest(f"$select must be a list of field names, got {describe(value)}")
    if len(fields) > MAX_SELECT_FIELDS:
        raise BadRequest(
            f"$select names {len(fields)} fields; the sandbox accepts at most {MAX_SELECT_FIELDS}"
        )
    return tuple(fields)


def _compile_query(
    query: Mapping[str, Any], prefix: str, types: Mapping[str, str], tally: Tally, depth: int
) -> Predicate:
    """One predicate ANDing every key of a (sub-)query; `prefix` locates it in messages,
    `tally` counts what the whole query costs and `depth` the `$or`/`$and` it sits in."""
    checks = [_compile_key(key, value, prefix, types, tally, depth) for key, value in query.items()]
    if len(checks) == 1:
        return checks[0]  # the usual case, a filter on one field: no wrapper around it
    return lambda record: all(check(record) for check in checks)


def _compile_key(
    key: str, value: Any, prefix: str, types: Mapping[str, str], tally: Tally, depth: int
) -> Predicate:
    name = f"{prefix}[{key}]" if prefix else key
    if key in ("$or", "$and"):
        return _compile_logic(key, value, name, types, tally, depth + 1)
    if key.startswith("$"):
        raise _invalid(key)
    kind = types.get(key)
    if isinstance(value, Mapping) and value:
        return _compile_operators(key, value, name, kind, tally)
    tally.add_terms(1, name)
    expected = _typed(value, name, kind)
    if type(expected) is str:
        return _text_equality(key, expected)
    return lambda record: _field_equals(record, key, expected)


def _compile_logic(
    key: str, value: Any, name: str, types: Mapping[str, str], tally: Tally, depth: int
) -> Predicate:
    """`$or` / `$and`: each branch a query of its own, one level deeper."""
    if depth > MAX_LOGIC_DEPTH:
        raise BadRequest(
            f"{name} nests $or and $and {depth} deep; the sandbox accepts at most "
            f"{MAX_LOGIC_DEPTH} levels"
        )
    branches: list[Predicate] = []
    for index, sub in enumerate(_sub_queries(value, name)):
        tally.add_terms(1, f"{name}[{index}]")
        branches.append(_compile_query(sub, f"{name}[{index}]", types, tally, depth))
    join = any if key == "$or" else all
    return lambda record: join(branch(record) for branch in branches)


def _text_equality(field: str, expected: str) -> Predicate:
    """`_field_equals` for a text value (the usual filter, `type=organization`), without the
    type checks of `_same` that text needs none of: only text equals text."""

    def matches(record: Record) -> bool:
        actual = record.get(field)
        if type(actual) is str:
            return actual == expected
        return isinstance(actual, list) and any(
            type(item) is str and item == expected for item in actual
        )

    return matches


def _invalid(key: str) -> BadRequest:
    """Feathers' own wording for an unknown `$` key, with the reason when there is one."""
    if key in _PAGING:
        return BadRequest(f"Invalid query parameter {key}: it is only allowed at the top level")
    if key in _UNSUPPORTED:
        return BadRequest(f"Invalid query parameter {key}: the sandbox does not support {key}")
    return BadRequest(f"Invalid query parameter {key}")


def _sub_queries(value: Any, name: str) -> list[Mapping[str, Any]]:
    items = _as_list(value)
    if not items:
        raise BadRequest(f"{name} must be a non-empty list of queries, got {describe(value)}")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise BadRequest(f"{name}[{index}] must be a query object, got {describe(item)}")
    return items


def _as_list(value: Any) -> list[Any] | None:
    """A list as given, or an object with only index keys (qs makes one past index 20)."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping) and value and all(_INDEX.fullmatch(key) for key in value):
        return [value[key] for key in sorted(value, key=int)]
    return None


def _typed(value: Any, name: str, kind: str | None) -> Any:
    """Text sent for a "number" field → the number (a list element-wise); else as given."""
    if kind != "number":
        return value
    if isinstance(value, list):
        return [_typed(item, f"{name}[{index}]", kind) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    number = number_from_text(value)
    if number is None:
        raise BadRequest(f"{name} must be a number, got {describe(value)}")
    return number


def _compile_operators(
    field: str, ops: Mapping[str, Any], name: str, kind: str | None, tally: Tally
) -> Predicate:
    """AND of the operators in `field[$op]=...`; any key that is no operator is refused."""
    checks: list[Predicate] = []
    for op, operand in ops.items():
        where = f"{name}[{op}]"
        if op not in _OPERATORS:
            if op.startswith("$"):
                raise _invalid(op)
            raise BadRequest(
                f"Invalid query parameter {where}: nested field queries are not supported"
            )
        if op == "$options":
            if "$regex" not in ops:
                raise BadRequest(f"{where} needs {name}[$regex]")
            continue
        tally.add_terms(1, where)
        checks.append(_compile_operator(field, name, op, operand, kind, ops, tally))
    return lambda record: all(check(record) for check in checks)


def _compile_operator(
    field: str,
    name: str,
    op: str,
    operand: Any,
    kind: str | None,
    ops: Mapping[str, Any],
    tally: Tally,
) -> Predicate:
    """One `field[$op]=operand` check; `name` is the field's parameter name, for messages."""
    where = f"{name}[{op}]"
    if op in ("$in", "$nin"):
        items = _as_list(operand)
        if items is None and isinstance(operand, Mapping):
            raise BadRequest(f"{where} must be a list, got {describe(operand)}")
        # A single value stands for a one-element list, as Mongo's own drivers allow.
        options = [_typed(operand, where, kind)] if items is None else _typed(items, where, kind)
        choices = _choices(options, where, tally)
        if op == "$in":
            return partial(_field_in, field=field, choices=choices)
        return lambda record: not _field_in(record, field=field, choices=choices)
    if op == "$ne":
        expected = _typed(operand, where, kind)
        return lambda record: not _field_equals(record, field, expected)
    if op == "$exists":
        wanted = _flag(operand, where)
        return lambda record: (field in record) == wanted
    if op == "$regex":
        regex = compile_regex(operand, ops.get("$options", ""), where, f"{name}[$options]")
        tally.scans.append(Scan(where, field, regex.instructions))
        return partial(_any_value, field=field, test=partial(_regex_matches, regex))
    bound = _typed(operand, where, kind)
    if not (is_number(bound) or isinstance(bound, str)):
        raise BadRequest(f"{where} must be a number or a string, got {describe(operand)}")
    return partial(_any_value, field=field, test=partial(_compares, _COMPARISONS[op], bound))


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "1") or (is_number(value) and value == 1):
        return True
    if value in ("false", "0") or (is_number(value) and value == 0):
        return False
    raise BadRequest(f"{name} must be true or false, got {describe(value)}")


@dataclass(frozen=True)
class _Choices:
    """An `$in`/`$nin` list: scalars by a key equal where Mongo's equality is (one hash lookup
    per value tested, however long the list), arrays and objects compared one by one."""

    keys: frozenset[tuple[str, Any]]
    others: tuple[Any, ...]

    def hold(self, value: Any) -> bool:
        key = _equality_key(value)
        if key is not None:
            return key in self.keys
        return any(_same(value, other) for other in self.others)


def _choices(options: list[Any], where: str, tally: Tally) -> _Choices:
    """The list's values as `_Choices`, each counted against the query's limits: every value
    towards MAX_LIST_VALUES, and an array or object also as conditions (each record compares
    it item by item)."""
    keys: set[tuple[str, Any]] = set()
    others: list[Any] = []
    for option in options:
        size = value_count(option)
        tally.add_values(size, where)
        key = _equality_key(option)
        if key is None:
            tally.add_terms(size, where)
            others.append(option)
        else:
            keys.add(key)
    return _Choices(frozenset(keys), tuple(others))


def _equality_key(value: Any) -> tuple[str, Any] | None:
    """A key for null, booleans, numbers and text that two values share exactly when `_same`
    calls them equal (so 1 and 1.0 share one, True and 1 do not); None for anything else."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return ("boolean", value)
    if is_number(value):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    return None


_NULL: Final = ("null", None)


def _field_in(record: Record, *, field: str, choices: _Choices) -> bool:
    """Whether `_field_equals(record, field, v)` holds for some v among the choices."""
    if field not in record:
        return _NULL in choices.keys
    actual = record[field]
    if choices.hold(actual):
        return True
    return isinstance(actual, list) and any(choices.hold(item) for item in actual)


def _field_equals(record: Record, field: str, expected: Any) -> bool:
    """Mongo equality: null matches a missing field; an array matches if it or an item is equal."""
    if field not in record:
        return expected is None
    actual = record[field]
    if _same(actual, expected):
        return True
    return isinstance(actual, list) and any(_same(item, expected) for item in actual)


def _same(left: Any, right: Any) -> bool:
    """Equality that keeps JSON types apart: True is not 1 and "1" is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if is_number(left) or is_number(right):
        return is_number(left) and is_number(right) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    return type(left) is type(right) and bool(left == right)


def _any_value(record: Record, *, field: str, test: Callable[[Any], bool]) -> bool:
    """`test` on the field's value, or on any item of an array value; missing never matches."""
    value = record.get(field)
    return any(test(item) for item in (value if isinstance(value, list) else [value]))


def _compares(compare: Callable[[Any, Any], bool], bound: int | float | str, value: Any) -> bool:
    """Only numbers compare with numbers and text with text, as in Mongo's type brackets."""
    same_class = is_number(value) if is_number(bound) else isinstance(value, str)
    return same_class and compare(value, bound)


def _regex_matches(regex: Regex, value: Any) -> bool:
    return isinstance(value, str) and regex.search(value)


def _record_key(record: Record, *, field: str, descending: bool) -> tuple[Any, ...]:
    """Mongo's sort key; an array sorts by its smallest item going up, its largest going down."""
    value = record.get(field)
    if not isinstance(value, list):
        return _value_key(value)
    if not value:
        return (0,)  # Mongo puts an empty array before null and missing fields.
    keys = [_value_key(item) for item in value]
    return max(keys) if descending else min(keys)


def _value_key(value: Any) -> tuple[Any, ...]:
    """(type rank, payload): missing/null < numbers < strings < objects < arrays < booleans."""
    if value is None:
        return (1,)
    if isinstance(value, bool):
        return (6, value)
    if is_number(value):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, Mapping):
        return (4, tuple((key, _value_key(item)) for key, item in value.items()))
    if isinstance(value, list):
        return (5, tuple(_value_key(item) for item in value))
    return (7, repr(value))


def _project(record: Record, select: frozenset[str] | None) -> dict[str, Any]:
    """A copy of the record; with `$select`, only `id` and the selected fields, in record order."""
    if select is None:
        return dict(record)
    return {key: value for key, value in record.items() if key == "id" or key in select}
