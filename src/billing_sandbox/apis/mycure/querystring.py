"""Query strings parsed as Node's `qs.parse` does for Feathers, then MYCURE SDK tags decoded."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeGuard
from urllib.parse import unquote_plus

from billing_sandbox.errors import BadRequest

# qs.parse defaults, as Express (and so Feathers) calls it.
DEPTH: Final = 5
ARRAY_LIMIT: Final = 20
PARAMETER_LIMIT: Final = 1000

_SEGMENT = re.compile(r"\[[^\[\]]*\]")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]?")
# A JS number literal as the SDK writes one after `#`; ASCII digits only (`\d` is Unicode).
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
# No client means a longer number, and int() refuses texts past 4300 digits.
_MAX_NUMBER_TEXT: Final = 400
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# JavaScript's Date holds 8.64e15 ms either side of 1970; past it, `new Date(value)` is an
# Invalid Date (and a 400-digit number is too large to be a float, for an infinity check).
_MAX_DATE_MS: Final = 8_640_000_000_000_000


class _Hole:
    """A gap in a sparse JS array (`a[2]=x` builds `[, , 'x']`); compaction drops it."""


_HOLE: Final = _Hole()


def parse(raw_query: str) -> dict[str, Any]:
    """The query object a Feathers service sees for `raw_query` (the text after `?`).

    Raises BadRequest for a malformed or unsupported `$coerce` wrapper.
    """
    merged: dict[str, Any] = {}
    for key, value in _pairs(raw_query).items():
        merged = _merge(merged, _nest(key, value))
    return {key: _decode(value, key) for key, value in _compact(merged).items()}


def number_from_text(text: str) -> int | float | None:
    """`20` → 20, `-1.5` → -1.5, `1e3` → 1000.0; None when `text` is no JS number literal."""
    if len(text) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
        return None
    return int(text) if _INTEGER.fullmatch(text) else float(text)


def is_number(value: Any) -> TypeGuard[int | float]:
    """True for JSON numbers; bools are not numbers here, unlike in Python."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def describe(value: Any) -> str:
    """A short JSON-flavoured rendering of a query value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pairs(raw_query: str) -> dict[str, Any]:
    """Decoded key → value in first-seen order; a repeated key collects a list (qs `combine`).

    The value is split off at the first `=` (qs prefers a `]=`, which only differs for raw `]=`
    inside a value); a part without `=` has the value None (qs `strictNullHandling`).
    """
    pairs: dict[str, Any] = {}
    for part in _first_parts(raw_query):
        raw_key, equals, raw_value = part.partition("=")
        key = unquote_plus(raw_key)
        if not key:
            continue
        value = unquote_plus(raw_value) if equals else None
        pairs[key] = _combine(pairs[key], value) if key in pairs else value
    return pairs


def _first_parts(raw_query: str) -> list[str]:
    """Like JS `split("&", 1000)`: the parts past the parameter limit are dropped, and never
    even cut out, so a query of a million `&` costs what one of a thousand does."""
    end = -1
    for _ in range(PARAMETER_LIMIT):
        end = raw_query.find("&", end + 1)
        if end == -1:
            return raw_query.split("&")
    return raw_query[:end].split("&")


def _nest(key: str, value: Any) -> Any:
    """`a[b][0]` with v → {"a": {"b": [v]}}, built inside out as qs `parseObject` does."""
    leaf = value
    for segment in reversed(_segments(key)):
        leaf = _wrap(segment, leaf)
    return leaf


def _segments(key: str) -> list[str]:
    """`a[b][c]` → `a`, `[b]`, `[c]`; text between bracket groups is ignored, as in qs."""
    first = _SEGMENT.search(key)
    parent = key if first is None else key[: first.start()]
    segments = [parent] if parent else []
    for count, match in enumerate(_SEGMENT.finditer(key)):
        if count == DEPTH:
            # Like qs, brackets past the depth limit stay one literal key: the sixth and later
            # groups of `a[1][2][3][4][5][6][7]` become the single key "[6][7]".
            segments.append(f"[{key[match.start() :]}]")
            break
        segments.append(match.group())
    return segments


def _wrap(segment: str, leaf: Any) -> Any:
    """One level of nesting: `[]` appends, `[n]` (n <= 20) indexes an array, else a key."""
    if segment == "[]":
        return _combine([], leaf)
    bracketed = len(segment) >= 2 and segment[0] == "[" and segment[-1] == "]"
    name = segment[1:-1] if bracketed else segment
    if bracketed and _ARRAY_INDEX.fullmatch(name) and int(name) <= ARRAY_LIMIT:
        return [*([_HOLE] * int(name)), leaf]
    return {name: leaf}


def _combine(first: Any, second: Any) -> list[Any]:
    """JS `[].concat(first, second)`: arrays are spread one level, anything else appended."""
    return [*_spread(first), *_spread(second)]


def _spread(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _merge(target: Any, source: Any) -> Any:
    """qs `utils.merge`: fold one parsed parameter into what the earlier ones built."""
    if source is None or source == "":
        return target
    if isinstance(source, str):
        return _merge_scalar(target, source)
    if not isinstance(target, list | dict):
        return _combine([target], source)
    if isinstance(target, list) and isinstance(source, list):
        return _merge_arrays(target, source)
    # An array meeting object keys becomes an object with index keys, as `a[0]=x&a[b]=y` does.
    merged = _as_object(target) if isinstance(target, list) else target
    for key, value in _entries(source):
        merged[key] = _merge(merged[key], value) if key in merged else value
    return merged


def _merge_scalar(target: Any, source: str) -> Any:
    if isinstance(target, list):
        target.append(source)
        return target
    if isinstance(target, dict):
        # qs marks a bare value under an object as a key set to true (`a[b]=x&a=c`).
        target[source] = True
        return target
    return [target, source]


def _merge_arrays(target: list[Any], source: list[Any]) -> list[Any]:
    for index, item in enumerate(source):
        if item is _HOLE:
            continue
        if index < len(target) and target[index] is not _HOLE:
            current = target[index]
            if isinstance(current, list | dict) and isinstance(item, list | dict):
                target[index] = _merge(current, item)
            else:
                target.append(item)
        else:
            target.extend([_HOLE] * (index + 1 - len(target)))
            target[index] = item
    return target


def _as_object(array: list[Any]) -> dict[str, Any]:
    return {str(index): item for index, item in enumerate(array) if item is not _HOLE}


def _entries(source: Any) -> list[tuple[str, Any]]:
    return list((source if isinstance(source, dict) else _as_object(source)).items())


def _compact(value: Any) -> Any:
    """Drop the holes of sparse arrays everywhere: `a[1]=b&a[5]=c` gives ["b", "c"]."""
    if isinstance(value, list):
        return [_compact(item) for item in value if item is not _HOLE]
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items()}
    return value


def _decode(value: Any, path: str) -> Any:
    """Undo the SDK's tags (`#20`, `#true`, `#[]`) and old-SDK `$coerce` wrappers, depth first."""
    if isinstance(value, str):
        return _untag(value)
    if isinstance(value, list):
        return [_decode(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict):
        decoded = {key: _decode(item, f"{path}[{key}]") for key, item in value.items()}
        return _coerce(decoded, path) if "$coerce" in decoded else decoded
    return value


def _untag(text: str) -> Any:
    """`#20` → 20, `#true` → True, `#[]` → []; any other text (even `#abc`) stays text."""
    if not text.startswith("#"):
        return text
    body = text[1:]
    if body in ("true", "false"):
        return body == "true"
    if body == "[]":
        return []
    number = number_from_text(body)
    return text if number is None else number


def _coerce(wrapper: dict[str, Any], path: str) -> int | float:
    """An old-SDK `{"$coerce": {"type": ..., "value": ...}}` → the typed value it stands for."""
    where = f"{path}[$coerce]"
    spec = wrapper["$coerce"]
    if len(wrapper) != 1 or not isinstance(spec, dict) or set(spec) != {"type", "value"}:
        raise BadRequest(f"{where} must stand alone and hold exactly [type] and [value]")
    kind, value = spec["type"], spec["value"]
    if kind == "number":
        return _coerced_number(value, f"{where}[value]")
    if kind == "date":
        return _coerced_date(value, f"{where}[value]")
    raise BadRequest(
        f"{where}[type] {describe(kind)} is not supported by the sandbox; use number or date"
    )


def _coerced_number(value: Any, where: str) -> int | float:
    number = number_from_text(value) if isinstance(value, str) else value
    if not is_number(number):
        raise BadRequest(f"{where} must be a number, got {describe(value)}")
    return number


def _coerced_date(value: Any, where: str) -> int:
    """ISO-8601 text (naive means UTC) or epoch milliseconds → epoch milliseconds."""
    number = number_from_text(value) if isinstance(value, str) else value
    if is_number(number) and abs(number) <= _MAX_DATE_MS:  # not NaN or infinite either
        return int(number)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return (moment - _EPOCH) // timedelta(milliseconds=1)
    raise BadRequest(
        f"{where} must be an ISO-8601 date or epoch milliseconds, got {describe(value)}"
    )
