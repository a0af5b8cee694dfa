"""Pact matching rules for an answer, read from its spec: what a consumer may rely on is the
answer's shape (types, formats, enums), not the values the sandbox happened to generate.

One `type` rule at the root cascades to every value (Pact applies a rule to a path and all
below it); more specific rules then say what the spec says more precisely: an enum is a regex
of its values, a date or date-time a regex of its format, an integer an integer. A field some
record left null is left out of what is expected (`expected_body`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Regexes any Pact implementation reads the same (Rust's regex, Java's, JavaScript's).
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_DATE_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
# Characters a regex reads as syntax; only these are escaped in an enum's alternation (an
# escaped space or quote is an error in some flavours).
_SYNTAX = set(r"\.^$|?*+()[]{}")
# How deep the walk follows an answer (answers nest a few levels; references may loop), and
# how many examples of one place it looks at (the items of a long list, and of lists in it).
_DEPTH = 24
_EXAMPLES = 5_000


def _escaped(text: str) -> str:
    return "".join(f"\\{char}" if char in _SYNTAX else char for char in text)


def expected_body(
    schema: Mapping[str, Any] | None, body: Any, document: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """What a consumer may expect of `body` (as the sandbox answered it under `schema`, whose
    references resolve in `document`), and its matching rules (the Pact v4 `body` category:
    JSON path → rule set).

    Arrays keep one item, and the rules match every item against it; so a field is expected
    only where every example of it held a value (each item of the arrays around it): a field
    null or missing in some record is one a consumer cannot rely on, and Pact cannot say
    "null or a string"."""
    rules: dict[str, Any] = {"$": _rule({"match": "type"})}
    expected = _shaped(schema or {}, [body], "$", document, rules, 0)
    return expected, rules


def _rule(matcher: dict[str, Any]) -> dict[str, Any]:
    return {"combine": "AND", "matchers": [matcher]}


def _shaped(
    schema: Mapping[str, Any],
    examples: list[Any],
    path: str,
    document: Mapping[str, Any],
    rules: dict[str, Any],
    depth: int,
) -> Any:
    """The first example, keeping what every example at `path` has; rules added on the way."""
    first = examples[0]
    if depth > _DEPTH:
        return first
    schema = resolved(schema, document)
    branch = _branch(schema, first, document)
    if branch is not None:
        return _shaped(branch, examples, path, document, rules, depth + 1)
    if all(isinstance(example, dict) for example in examples):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        kept = {}
        for key in first:
            values = [example.get(key) for example in examples]
            if any(value is None for value in values):
                continue
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            sub = sub if isinstance(sub, dict) else {}
            kept[key] = _shaped(sub, values, child_path(path, key), document, rules, depth + 1)
        return kept
    if all(isinstance(example, list) for example in examples):
        items = schema.get("items")
        every = [item for example in examples for item in example][:_EXAMPLES]
        if not every:
            return []
        sub = items if isinstance(items, dict) else {}
        return [_shaped(sub, every, f"{path}[*]", document, rules, depth + 1)]
    matcher = _leaf(schema, first)
    if matcher is not None:
        rules[path] = _rule(matcher)
    return first


def _leaf(schema: Mapping[str, Any], value: Any) -> dict[str, Any] | None:
    enum = schema.get("enum")
    if isinstance(enum, list) and isinstance(value, str) and all(isinstance(v, str) for v in enum):
        return {"match": "regex", "regex": "^(" + "|".join(_escaped(v) for v in enum) + ")$"}
    if isinstance(value, str):
        form = schema.get("format")
        if form == "date":
            return {"match": "regex", "regex": _DATE}
        if form == "date-time":
            return {"match": "regex", "regex": _DATE_TIME}
        return None
    if isinstance(value, int) and not isinstance(value, bool) and _types(schema) == {"integer"}:
        return {"match": "integer"}
    return None


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    return {t for t in declared if isinstance(t, str)} if isinstance(declared, list) else set()


def _branch(
    schema: Mapping[str, Any], value: Any, document: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Where the schema says "one of these": the branch `value` fits (the first whose type and
    required fields it has), so the rules come from that one. `allOf` merges its parts."""
    parts = schema.get("allOf")
    if isinstance(parts, list) and parts:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties") or {})
        for part in parts:
            whole = resolved(part, document) if isinstance(part, dict) else {}
            properties.update(whole.get("properties") or {})
            merged.update({k: v for k, v in whole.items() if k != "properties"})
        merged["properties"] = properties
        return merged
    for keyword in ("oneOf", "anyOf"):
        options = schema.get(keyword)
        if isinstance(options, list):
            for option in options:
                whole = resolved(option, document) if isinstance(option, dict) else {}
                if _fits(whole, value):
                    return whole
            return {}
    return None


def _fits(schema: Mapping[str, Any], value: Any) -> bool:
    types = _types(schema)
    kind = {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value))
    if kind is None:
        kind = "null" if value is None else "integer" if isinstance(value, int) else "number"
    if types and kind not in types and not (kind == "integer" and "number" in types):
        return False
    if isinstance(value, dict):
        required = schema.get("required") or []
        return all(name in value for name in required)
    return "enum" not in schema or value in schema["enum"]


def resolved(schema: Mapping[str, Any], document: Mapping[str, Any]) -> Mapping[str, Any]:
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
        reference = schema["$ref"]
        seen.add(reference)
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            return {}
        schema = target
    return schema


def child_path(path: str, key: str) -> str:
    """A JSON path one field down, in Pact's notation (`$.a` or `$['a-b']`)."""
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}['{key}']"
