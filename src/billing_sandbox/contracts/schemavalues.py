"""Values as JSON Schema sees them (an integral 2.0 is an integer, `true` is not `1`, a YAML
date is its ISO text) and as a finding names them: short JSON, with `a`/`an` and `or` lists
so each reason reads as a sentence."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def is_of_type(value: Any, kinds: set[str]) -> bool:
    kind = json_type(value)
    return kind in kinds or (kind == "integer" and "number" in kinds)


def same_json(value: Any, option: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` is `1.0`."""
    if isinstance(option, date):
        option = option.isoformat()  # YAML reads an unquoted 2024-01-01 as a date
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value == option
    if isinstance(value, int | float) and isinstance(option, int | float):
        return value == option
    if isinstance(value, list) and isinstance(option, list):
        return len(value) == len(option) and all(map(same_json, value, option))
    if isinstance(value, dict) and isinstance(option, dict):
        return value.keys() == option.keys() and all(same_json(value[k], option[k]) for k in value)
    return type(value) is type(option) and bool(value == option)


def show_value(value: Any) -> str:
    """A value as JSON, cut to a readable length."""
    try:
        text = orjson.dumps(value, default=str).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def show_option(option: Any) -> str:
    return option if isinstance(option, str) else show_value(option)


def with_article(kind: str) -> str:
    if kind == "null":
        return "null"
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def joined_or(items: Any) -> str:
    listed = sorted(str(item) for item in items) if not isinstance(items, list) else items
    listed = [str(item) for item in listed]
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} or {listed[-1]}"
