"""Regexes a pact supplies, run on RE2 so a hostile one costs time linear in the text, and
bounded in length and compiled size; one that cannot be run is the pact's mismatch, said in
words, never an exception."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

import orjson
import re2

from billing_sandbox.contracts.jsonpath import shown

# Regexes come from the pact: RE2 runs them in time linear in the text; these bound the
# pattern itself (its length, and its compiled size, which is its per-byte work).
MAX_REGEX_LENGTH: Final = 1000
MAX_REGEX_INSTRUCTIONS: Final = 5000
REGEX_MEMORY_BYTES: Final = 1 << 20


def as_text(value: Any) -> str:
    """A value as regex and include see it: a string as it is, anything else as JSON text."""
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested past orjson's limit: no text a matcher could want
        return shown(value)


def regex_problem(pattern: Any, actual: Any) -> str | None:
    """Pact's regex matcher: the whole value (as text) matches, as Java's `matches` and the
    reference implementation's Oniguruma `is_match` take it."""
    if not isinstance(pattern, str):
        return f"the pact's regex matcher has no regex (got {shown(pattern)})"
    compiled = compiled_regex(pattern)
    if isinstance(compiled, str):
        return compiled
    text = as_text(actual)
    return (
        None if compiled.fullmatch(text) is not None else f"{shown(text)} does not match {pattern}"
    )


@lru_cache(maxsize=512)
def compiled_regex(pattern: str) -> Any:
    """RE2's compiled pattern, or a sentence saying why the pact's regex cannot be run."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"the pact's regex is longer than {MAX_REGEX_LENGTH} characters"
    options = re2.Options()
    options.max_mem = REGEX_MEMORY_BYTES
    options.never_capture = True  # a matcher asks only whether the value matches
    options.log_errors = False  # a refused regex is the pact's mismatch, not a log line
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        return (
            f"the pact's regex {shown(pattern)} cannot be run: {reason} (the verifier runs "
            "RE2, which has no lookaround or backreferences)"
        )
    if int(compiled._regexp.ProgramSize()) > MAX_REGEX_INSTRUCTIONS:
        return f"the pact's regex {shown(pattern)} is too large (use smaller repetition counts)"
    return compiled
