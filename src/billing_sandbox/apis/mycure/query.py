"""Feathers queries on a MongoDB-backed service: validated, compiled to a `Find`, run on records."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from billing_sandbox.apis.mycure.querystring import describe, is_number, number_from_text
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
_REGEX_FLAGS: Final = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
MAX_REGEX_LENGTH: Final = 256
_INDEX: Final = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Find:
    """A compiled query: which records match, their order, the page, and the fields returned."""

    matches: Predicate
    sort: tuple[tuple[str, int], ...]  # (field, 1 | -1), first key first
    select: tuple[str, ...] | None  # None: every field
    limit: int
    skip: int


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
    """
    filters = {key: value for key, value in query.items() if key not in _PAGING}
    limit = _count(query["$limit"], "$limit") if "$limit" in query else default_limit
    return Find(
        matches=_compile_query(filters, "", field_types),
        sort=_sort(query["$sort"]) if "$sort" in query else (),
        select=_select(query["$select"]) if "$select" in query else None,
        limit=min(limit, max_limit),
        skip=_count(query["$skip"], "$skip") if "$skip" in query else 0,
    )


def run_find(
    find: Find, records: Iterable[Record], copies: bool = True
) -> tuple[int, list[Record]]:
    """(how many records match, the page of them after sort, skip, limit and select). The
    page holds copies, unless `copies` is False and nothing is selected: then the records
    themselves, for a caller that only serialises them."""
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
    return len(matching), [_project(record, find.select) for record in page]


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
    return tuple(fields)


def _compile_query(query: Mapping[str, Any], prefix: str, types: Mapping[str, str]) -> Predicate:
    """One predicate ANDing every key of a (sub-)query; `prefix` locates it in messages."""
    checks = [_compile_key(key, value, prefix, types) for key, value in query.items()]
    if len(checks) == 1:
        return checks[0]  # the usual case, a filter on one field: no wrapper around it
    return lambda record: all(check(record) for check in checks)


def _compile_key(key: str, value: Any, prefix: str, types: Mapping[str, str]) -> Predicate:
    name = f"{prefix}[{key}]" if prefix else key
    if key in ("$or", "$and"):
        branches = [
            _compile_query(sub, f"{name}[{index}]", types)
            for index, sub in enumerate(_sub_queries(value, name))
        ]
        join = any if key == "$or" else all
        return lambda record: join(branch(record) for branch in branches)
    if key.startswith("$"):
        raise _invalid(key)
    if isinstance(value, Mapping) and value:
        return _compile_operators(key, value, name, types.get(key))
    expected = _typed(value, name, types.get(key))
    if type(expected) is str:
        return _text_equality(key, expected)
    return lambda record: _field_equals(record, key, expected)


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
    field: str, ops: Mapping[str, Any], name: str, kind: str | None
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
        checks.append(_compile_operator(field, name, op, operand, kind, ops))
    return lambda record: all(check(record) for check in checks)


def _compile_operator(
    field: str, name: str, op: str, operand: Any, kind: str | None, ops: Mapping[str, Any]
) -> Predicate:
    """One `field[$op]=operand` check; `name` is the field's parameter name, for messages."""
    where = f"{name}[{op}]"
    if op in ("$in", "$nin"):
        items = _as_list(operand)
        if items is None and isinstance(operand, Mapping):
            raise BadRequest(f"{where} must be a list, got {describe(operand)}")
        # A single value stands for a one-element list, as Mongo's own drivers allow.
        options = [_typed(operand, where, kind)] if items is None else _typed(items, where, kind)
        if op == "$in":
            return lambda record: any(_field_equals(record, field, item) for item in options)
        return lambda record: not any(_field_equals(record, field, item) for item in options)
    if op == "$ne":
        expected = _typed(operand, where, kind)
        return lambda record: not _field_equals(record, field, expected)
    if op == "$exists":
        wanted = _flag(operand, where)
        return lambda record: (field in record) == wanted
    if op == "$regex":
        pattern = _regex(operand, where, ops.get("$options", ""), f"{name}[$options]")
        return partial(_any_value, field=field, test=partial(_regex_matches, pattern))
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


def _regex(pattern: Any, name: str, options: Any, options_name: str) -> re.Pattern[str]:
    """`$regex` compiled with the flags its `$options` letters name."""
    if not isinstance(pattern, str):
        raise BadRequest(f"{name} must be a string, got {describe(pattern)}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise BadRequest(
            f"{name} must be at most {MAX_REGEX_LENGTH} characters, got {len(pattern)}"
        )
    if not isinstance(options, str) or any(letter not in _REGEX_FLAGS for letter in options):
        raise BadRequest(f"{options_name} must be letters from imsx, got {describe(options)}")
    try:
        return re.compile(pattern, sum(_REGEX_FLAGS[letter] for letter in set(options)))
    except (re.error, OverflowError, RecursionError) as error:
        raise BadRequest(f"{name} is not a valid regular expression: {error}") from None


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


def _regex_matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.search(value) is not None


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


def _project(record: Record, select: tuple[str, ...] | None) -> dict[str, Any]:
    """A copy of the record; with `$select`, only `id` and the selected fields, in record order."""
    if select is None:
        return dict(record)
    return {key: value for key, value in record.items() if key == "id" or key in select}
