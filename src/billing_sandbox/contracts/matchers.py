"""Pact's matchers, each judging one value (a leaf of a body, a header, a status, a key) by
itself: what is wrong with it in words, or nothing. JSON's types are Pact's here: 1 and 1.0
differ, and a boolean is never a number."""

from __future__ import annotations

from typing import Any, Final

from billing_sandbox.contracts.dates import date_problem
from billing_sandbox.contracts.jsonpath import shown
from billing_sandbox.contracts.model import RuleSet
from billing_sandbox.contracts.regexes import as_text, compiled_regex, regex_problem
from billing_sandbox.contracts.rules import STATUS_CLASSES, matcher_kind

# Matchers that hold for a whole object or array and say nothing of the values inside: they
# apply where they are written and do not cascade to children (as in Pact's reference).
NOT_CASCADING: Final = frozenset({"values", "eachKey", "eachValue", "arrayContains"})
_SEMVER: Final = (
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
_INTEGER_TEXT: Final = r"[+-]?[0-9]+"
_NUMBER_TEXT: Final = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"


def rule_set_problems(rule_set: RuleSet, expected: Any, actual: Any, text: bool) -> list[str]:
    """A rule set on a single value (a header, a status): each matcher's problem, AND or OR."""
    problems = [
        leaf_problem(matcher, matcher_kind(matcher), expected, actual, text)
        for matcher in rule_set.matchers
    ]
    if rule_set.combine == "OR" and any(problem is None for problem in problems):
        return []
    return [problem for problem in problems if problem is not None]


def leaf_problem(
    matcher: dict[str, Any], kind: str | None, expected: Any, actual: Any, text: bool
) -> str | None:
    """What is wrong with `actual` by one matcher, or None. `text`: the value is text from a
    header or a key, where numbers and booleans are spelled out."""
    if kind in ("type", "notEmpty"):
        if kind == "notEmpty" and actual in (None, "", [], {}):
            return f"expected a value that is not empty, got {shown(actual)}"
        if text or same_type(expected, actual):
            return None
        return f"expected {a_type(expected)}, got {shown(actual)}"
    if kind in ("equality", "values"):
        return (
            None
            if json_equal(expected, actual)
            else f"expected {shown(expected)}, got {shown(actual)}"
        )
    if kind == "regex":
        return regex_problem(matcher.get("regex"), actual)
    if kind == "include":
        needle = str(matcher.get("value", ""))
        haystack = as_text(actual)
        return None if needle in haystack else f"{shown(haystack)} does not include {shown(needle)}"
    if kind in _KIND_CHECKS:
        check, noun = _KIND_CHECKS[kind]
        return None if check(actual, text) else f"expected {noun}, got {shown(actual)}"
    if kind in ("date", "time", "timestamp", "datetime"):
        return date_problem(kind, matcher.get("format"), actual)
    if kind == "semver":
        if isinstance(actual, str) and compiled_regex(_SEMVER).fullmatch(actual) is not None:
            return None
        return f"expected a semantic version (such as 1.2.3), got {shown(actual)}"
    if kind == "statusCode":
        return _status_problem(matcher.get("status", "success"), actual)
    if kind in NOT_CASCADING or kind == "contentType":
        return f'the "{kind}" matcher applies to a body, an object or an array, not {shown(actual)}'
    return (
        f"the pact uses the matcher {shown(kind or matcher)}, which the verifier does not support"
    )


def _is_integer(value: Any, text: bool) -> bool:
    if isinstance(value, str):
        return text and compiled_regex(_INTEGER_TEXT).fullmatch(value) is not None
    return isinstance(value, int) and not isinstance(value, bool)


def _is_decimal(value: Any, text: bool) -> bool:
    if isinstance(value, str):  # text has no number types: any number will do
        return text and compiled_regex(_NUMBER_TEXT).fullmatch(value) is not None
    return isinstance(value, float)


def _is_number(value: Any, text: bool) -> bool:
    if isinstance(value, str):
        return text and compiled_regex(_NUMBER_TEXT).fullmatch(value) is not None
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_boolean(value: Any, text: bool) -> bool:
    return isinstance(value, bool) or value in ("true", "false")


def _is_null(value: Any, text: bool) -> bool:
    return value is None


_KIND_CHECKS: Final = {
    "integer": (_is_integer, "an integer"),
    "decimal": (_is_decimal, "a decimal number"),
    "number": (_is_number, "a number"),
    "boolean": (_is_boolean, "a boolean"),
    "null": (_is_null, "null"),
}


def _status_problem(status: Any, actual: Any) -> str | None:
    if isinstance(status, list):
        if actual in status:
            return None
        return f"expected one of {', '.join(str(code) for code in status)}, got {shown(actual)}"
    bounds = STATUS_CLASSES.get(str(status))
    if bounds is None:
        return f"the pact's statusCode matcher names {shown(status)}, which is no status class"
    low, high = bounds
    if isinstance(actual, int) and low <= actual <= high:
        return None
    return f"expected a {status} status ({low}-{high}), got {shown(actual)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def same_type(expected: Any, actual: Any) -> bool:
    """JSON's types: an integer and a decimal are both numbers; a boolean is not one."""
    return _json_type(expected) == _json_type(actual)


def a_type(value: Any) -> str:
    kind = _json_type(value)
    return {"null": "null", "array": "an array", "object": "an object"}.get(kind, f"a {kind}")


def json_equal(expected: Any, actual: Any) -> bool:
    """Leaf equality as JSON has it: 1 and 1.0 differ (as in Pact's reference), and a boolean
    is never a number (though Python's True == 1)."""
    if _json_type(expected) != _json_type(actual):
        return False
    if isinstance(expected, int | float) and type(expected) is not type(actual):
        return False
    return bool(expected == actual)
