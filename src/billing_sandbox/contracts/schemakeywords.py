"""The keywords that constrain a value by itself (formats, patterns, bounds), left to
jsonschema-rs rather than walked by hand: compiled once per distinct set, and a keyword it
refuses is left out rather than failing the check. `patternProperties` patterns come from the
spec, so they run on RE2."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs
import orjson
import re2

# Keywords that constrain a value by itself, not through its parts: jsonschema-rs checks them
# (formats, patterns, bounds), compiled once per distinct set.
_LOCAL_KEYWORDS = (
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)


def local_keywords(schema: dict[str, Any], sending: bool) -> bytes | None:
    """The keywords of `schema` that jsonschema-rs checks, as a cache key (None: none).
    OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become 3.1's numbers; an
    expected (response) object is partial, so its `minProperties` is not asked."""
    local = {key: schema[key] for key in _LOCAL_KEYWORDS if key in schema}
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(local.get(exclusive), bool) and local.pop(exclusive) and bound in local:
            local[exclusive] = local.pop(bound)
    if not sending:
        local.pop("minProperties", None)
    if not local:
        return None
    try:
        return orjson.dumps(local, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None  # a YAML date or another value JSON has no word for: not checked


@lru_cache(maxsize=4096)
def local_validator(keywords: bytes | None) -> Any:
    """The compiled check of those keywords; a keyword jsonschema-rs refuses (a pattern in a
    regex dialect it lacks, a bound that is not a number) is left out, not fatal."""
    if keywords is None:
        return None
    local: dict[str, Any] = orjson.loads(keywords)
    try:
        return jsonschema_rs.validator_for(local, validate_formats=True)
    except (jsonschema_rs.ValidationError, ValueError):
        pass
    kept = {}
    for key, value in local.items():
        try:
            jsonschema_rs.validator_for({key: value}, validate_formats=True)
        except (jsonschema_rs.ValidationError, ValueError):
            continue
        kept[key] = value
    return jsonschema_rs.validator_for(kept, validate_formats=True) if kept else None


@lru_cache(maxsize=1024)
def _compiled_pattern(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


def pattern_matches(pattern: str, key: str) -> bool:
    """Whether a `patternProperties` pattern (from the spec, so run on RE2: linear time) matches
    a key. One RE2 cannot run is taken to match: the check cannot tell, and says nothing."""
    compiled = _compiled_pattern(pattern)
    return compiled is None or compiled.search(key) is not None
