"""Substitutions learnt through a story: each value a pact recorded that this run answered
differently at the same place (the ids a provider makes anew on every run), and a value with
every recorded one replaced by this run's.

A story's later interactions carry what its earlier answers made: the charge a consumer fetches
is the one it just created, under the id this run's server gave it, not the recorded one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Values shorter than this are not learnt as replacements: a recorded "USD" or "1" that the
# replay answered differently is more likely a difference than an id.
MIN_LEARNT_CHARS = 4
# How deep a walk into a body goes (these, and the one placing a generator's values): pacts
# and answers are parsed JSON, bounded in size, but a hostile one may nest far enough to
# exhaust Python's stack.
MAX_DEPTH = 64


def learn(expected: Any, actual: Any, into: dict[str, str], depth: int = 0) -> None:
    """Add to `into` each string the recorded answer held (`expected`) that this run answered
    differently at the same place (`actual`): the ids a provider makes anew on every run."""
    if depth > MAX_DEPTH:
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() & actual.keys():
            learn(expected[key], actual[key], into, depth + 1)
    elif isinstance(expected, list) and isinstance(actual, list):
        for recorded, answered in zip(expected, actual, strict=False):
            learn(recorded, answered, into, depth + 1)
    elif (
        isinstance(expected, str)
        and isinstance(actual, str)
        and expected != actual
        and len(expected) >= MIN_LEARNT_CHARS
    ):
        into.setdefault(expected, actual)


def substituted(value: Any, substitutions: Mapping[str, str]) -> Any:
    """`value` (a parsed JSON body, a header value) with each string that equals a recorded
    value whole replaced by this run's."""
    return _replaced(value, substitutions, 0)


def _replaced(value: Any, substitutions: Mapping[str, str], depth: int) -> Any:
    if not substitutions or depth > MAX_DEPTH:
        return value
    if isinstance(value, str):
        return substitutions.get(value, value)
    if isinstance(value, list):
        return [_replaced(item, substitutions, depth + 1) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, substitutions, depth + 1) for key, item in value.items()}
    return value
