"""Turn path, query and header text into typed values the operation's schemas can check."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.datastructures import Headers

from billing_sandbox.spec.document import Parameter

# ASCII digits only (`\d` is any Unicode digit, which int() would read too).
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Each digit has one place to go, so matching is linear in the text (the former pattern
# could split a run of digits two ways, and took seconds on a long one).
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# No client means a longer number: int() refuses texts past 4300 digits (a ValueError, which
# was a 500), and a float of more is inf anyway. A longer text stays text, which the schema
# then refuses with the API's own 400.
_MAX_NUMBER_TEXT = 400


def coerce(text: str, schema: Mapping[str, Any]) -> Any:
    """Convert `text` to the schema's scalar type; leave it as text when it does not fit,
    so that validation reports the bad value instead of this function guessing."""
    kind = schema.get("type")
    if len(text) > _MAX_NUMBER_TEXT:
        return text
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "number" and _NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def query_values(raw: bytes) -> dict[str, list[str]]:
    """A query string's values by name, in order, as Starlette's `QueryParams` reads them
    (blank values kept, `+` a space, percent-escapes UTF-8). Plain ASCII with no escape, the
    usual query, is split directly: the general parser costs more than the rest of a read."""
    values: dict[str, list[str]] = {}
    pairs: Iterable[tuple[str, str]]
    if not raw.isascii():
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    elif _PERCENT in raw or _PLUS in raw:
        # Escaped, as clients send brackets and dollars (`qs`: `%24sort%5BcreatedAt%5D=-1`):
        # decoded once per distinct short query string, since a client repeats its queries.
        pairs = _escaped_pairs(raw) if len(raw) <= _REMEMBERED_QUERY_BYTES else _split(raw)
    else:
        pairs = []
        for part in raw.decode("ascii").split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((name, value))
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return values


# Single bytes looked for as integers: `b"%" in raw` takes its argument as a buffer, at seven
# times the cost of `37 in raw`, on every read with a query.
_PERCENT, _PLUS = ord("%"), ord("+")
# The longest query string whose decoding is remembered (`_escaped_pairs` keeps 256 of them,
# so at most 256 KiB).
_REMEMBERED_QUERY_BYTES = 1024


@lru_cache(maxsize=256)
def _escaped_pairs(raw: bytes) -> tuple[tuple[str, str], ...]:
    return _split(raw)


def _split(raw: bytes) -> tuple[tuple[str, str], ...]:
    """An ASCII query's names and values as `parse_qsl` decodes them: `+` a space, then
    percent-escapes as UTF-8 (each step only where a part has one)."""
    pairs = []
    for part in raw.decode("ascii").split("&"):
        if part:
            name, _, value = part.partition("=")
            if "+" in part:
                name, value = name.replace("+", " "), value.replace("+", " ")
            if "%" in part:
                name, value = unquote(name), unquote(value)
            pairs.append((name, value))
    return tuple(pairs)


def from_query(
    declared: Mapping[str, Parameter],
    defaults: Mapping[str, Any],
    query: Mapping[str, list[str]],
) -> dict[str, Any]:
    """Declared query parameters only (others are ignored, as real servers do); arrays come
    from repeated keys (`account_types=A&account_types=B`), a scalar from the last one;
    defaults fill the gaps. Goes through what was sent, not all that is declared: a request
    sends few of an operation's parameters."""
    values = dict(defaults)
    for name, given in query.items():
        param = declared.get(name)
        if param is None:
            continue
        if param.is_array:
            items = param.schema.get("items", {})
            values[name] = [coerce(v, items) for v in given]
        else:
            values[name] = coerce(given[-1], param.schema)
    return values


def from_path(parameters: tuple[Parameter, ...], path: Mapping[str, Any]) -> dict[str, Any]:
    """The declared path parameters, typed; one declared as a string is its text as matched
    (the usual `{id}`, on every by-id read: no conversion is tried)."""
    values: dict[str, Any] = {}
    for param in parameters:
        name = param.name
        if name in path:
            text = str(path[name])
            values[name] = text if param.as_text else coerce(text, param.schema)
    return values


def from_headers(parameters: tuple[Parameter, ...], headers: Headers) -> dict[str, Any]:
    return {p.name: coerce(headers[p.name], p.schema) for p in parameters if p.name in headers}
