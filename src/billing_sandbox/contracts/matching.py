"""The verifier's comparison of what a provider answered with the response a pact expects, by
Pact's rules as its reference implementation applies them: the status and every expected
header must match, and the body must hold everything the pact's example holds (extra keys
are fine), loosened where the pact's matching rules say so. Each difference is a Mismatch
naming the place (`status`, `header Content-Type`, `body $.data[0].amount`) and what a person
can do about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from billing_sandbox.contracts.bodies import media_type
from billing_sandbox.contracts.bodymatching import MAX_DEPTH, body_mismatches
from billing_sandbox.contracts.dates import MAX_DATE_FORMAT_LENGTH
from billing_sandbox.contracts.jsonpath import shown
from billing_sandbox.contracts.matchers import rule_set_problems
from billing_sandbox.contracts.mismatch import Mismatch
from billing_sandbox.contracts.model import Response
from billing_sandbox.contracts.regexes import (
    MAX_REGEX_INSTRUCTIONS,
    MAX_REGEX_LENGTH,
    REGEX_MEMORY_BYTES,
)

# What other modules take from here, wherever it is now defined.
__all__ = [
    "MAX_DATE_FORMAT_LENGTH",
    "MAX_DEPTH",
    "MAX_MISMATCHES",
    "MAX_REGEX_INSTRUCTIONS",
    "MAX_REGEX_LENGTH",
    "REGEX_MEMORY_BYTES",
    "Mismatch",
    "response_mismatches",
]

# Past this many, the rest of one response's mismatches are counted rather than listed.
MAX_MISMATCHES: Final = 100


def response_mismatches(
    expected: Response, status: int, headers: Mapping[str, str], body: Any, has_body: bool
) -> list[Mismatch]:
    """How the answer (`status`, `headers` by any case, `body` parsed from JSON when its
    content type is JSON, else text) differs from `expected`; empty when it satisfies it."""
    found = [*_status_mismatches(expected, status), *_header_mismatches(expected, headers)]
    if expected.has_body:
        found += body_mismatches(expected, headers, body, has_body)
    unique = list(dict.fromkeys(found))  # AND-ed matchers can find one difference twice
    if len(unique) <= MAX_MISMATCHES:
        return unique
    more = len(unique) - MAX_MISMATCHES
    return [*unique[:MAX_MISMATCHES], Mismatch("response", f"and {more} more mismatches")]


def _status_mismatches(expected: Response, status: int) -> list[Mismatch]:
    rule_set = next(iter(expected.rules.get("status", {}).values()), None)
    if rule_set is not None and rule_set.matchers:
        problems = rule_set_problems(rule_set, expected.status, status, text=False)
        return [Mismatch("status", problem) for problem in problems]
    if status == expected.status:
        return []
    return [Mismatch("status", f"expected {expected.status}, got {status}")]


def _header_mismatches(expected: Response, headers: Mapping[str, str]) -> list[Mismatch]:
    actual = {name.lower(): value for name, value in headers.items()}
    rules = {name.lower(): rule_set for name, rule_set in expected.rules.get("header", {}).items()}
    found: list[Mismatch] = []
    for name, value in expected.headers.items():
        where = f"header {name}"
        present = actual.get(name.lower())
        rule_set = rules.get(name.lower())
        if present is None:
            found.append(Mismatch(where, "missing (the pact expects it)"))
        elif rule_set is not None and rule_set.matchers:
            problems = rule_set_problems(rule_set, value, present, text=True)
            found += [Mismatch(where, problem) for problem in problems]
        elif name.lower() == "content-type":
            problem = _content_type_problem(value, present)
            found += [Mismatch(where, problem)] if problem else []
        elif _header_values(value) != _header_values(present):
            found.append(Mismatch(where, f"expected {shown(value)}, got {shown(present)}"))
    return found


def _header_values(value: str) -> list[str]:
    """A header's values as HTTP lists them, so `a, b` and `a,b` are the same."""
    return [part.strip() for part in value.split(",")]


def _content_type_problem(expected: str, actual: str) -> str | None:
    """Content types compare by media type; the answer may add parameters the pact leaves out
    (`application/json` matches `application/json; charset=utf-8`), and a parameter the pact
    names must agree (a charset by any case)."""
    expected_media, expected_parameters = media_type(expected)
    actual_media, actual_parameters = media_type(actual)
    if expected_media != actual_media:
        return f"expected {shown(expected)}, got {shown(actual)}"
    for key, setting in expected_parameters.items():
        present = actual_parameters.get(key)
        same = present is not None and (
            present.lower() == setting.lower() if key == "charset" else present == setting
        )
        if not same:
            return f"expected {shown(expected)}, got {shown(actual)} ({key} differs)"
    return None
