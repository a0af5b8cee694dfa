"""The format's JSON Schema (scenarios/scenario.schema.json), applied a step at a time so that each
problem names its step's kind and place."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from billing_sandbox.scenarios.problems import Problem, at
from billing_sandbox.scenarios.shipped import SCHEMA_PATH

# A step's kind is the one of these keys it has.
KINDS = {"call": "callStep", "control": "controlStep", "clock": "clockStep", "repeat": "repeatStep"}
# Beside a `pattern` in the schema, what it asks for in words.
_HINTS = {
    "call": "is not 'METHOD /path': GET, POST, PUT, PATCH or DELETE, a space, then the path "
    "from its first '/' (query parameters go under `query`)",
    "control": "is not 'METHOD /path': GET, POST, PUT, PATCH or DELETE, a space, then the "
    "path from its first '/' (query parameters go under `query`)",
    "name": "is not a name: lower-case letters, digits and '-'",
    "stepName": "is not a step name: a lower-case letter, then lower-case letters, digits and '_'",
}
_SHALLOW_STEPS = {"type": "array", "minItems": 1}


@dataclass(frozen=True)
class Validators:
    """The schema compiled: the file's top (its steps left to `step`), and each step kind (a
    repeat's own steps left to the caller, who walks them)."""

    top: tuple[Any, Mapping[str, Any]]  # the validator, and the schema it was compiled from
    kinds: Mapping[str, tuple[Any, Mapping[str, Any]]]


@lru_cache(maxsize=4)
def validators(path: Path = SCHEMA_PATH) -> Validators:
    schema = orjson.loads(path.read_bytes())
    defs = {**schema["$defs"], "steps": _SHALLOW_STEPS}
    top = {**schema, "$defs": defs, "properties": {**schema["properties"], "steps": _SHALLOW_STEPS}}
    kinds = {kind: {"$ref": f"#/$defs/{ref}", "$defs": defs} for kind, ref in KINDS.items()}
    return Validators(
        (jsonschema_rs.validator_for(top), top),
        {kind: (jsonschema_rs.validator_for(root), root) for kind, root in kinds.items()},
    )


def top_problems(document: Mapping[str, Any]) -> list[Problem]:
    """What is wrong with the file's own fields (not its steps)."""
    return _problems(validators().top, document, "", "scenario")


def step_kind(step: Any, location: str) -> tuple[str | None, list[Problem]]:
    """The kind of a step (`call`, `control`, `clock`, `repeat`), or the problem that it has none
    or several."""
    if not isinstance(step, dict):
        return None, [
            Problem(
                location,
                f"a step is a mapping (call:, control:, clock: or repeat:), not {_what(step)}",
            )
        ]
    kinds = [key for key in KINDS if key in step]
    if len(kinds) == 1:
        return kinds[0], []
    if kinds:
        listed = " and ".join(kinds)
        return None, [Problem(location, f"a step is one kind of step, not {listed} at once")]
    keys = [str(key) for key in step if key != "name"]
    close = sorted({match for key in keys for match in difflib.get_close_matches(key, KINDS, n=1)})
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    held = f"; this one has {', '.join(keys)}" if keys else ""
    return None, [
        Problem(
            location, f"unknown step kind: a step has call, control, clock or repeat{held}{hint}"
        )
    ]


def step_problems(step: Mapping[str, Any], kind: str, location: str) -> list[Problem]:
    """What is wrong with one step of a known kind (a repeat's own steps aside)."""
    return _problems(validators().kinds[kind], step, location, f"{kind} step")


def _problems(
    compiled: tuple[Any, Mapping[str, Any]], instance: Any, location: str, what: str
) -> list[Problem]:
    validator, root = compiled
    found: list[Problem] = []
    for error in validator.iter_errors(instance):
        path = tuple(error.instance_path)
        kind = error.kind
        where = at(location, *path) or "(file)"
        if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            found.append(Problem(at(location, *path, kind.property), f"is required in a {what}"))
        elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            allowed = _allowed(root, tuple(error.schema_path)[:-1])
            for name in kind.unexpected:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = (
                    f" (did you mean {close[0]}?)" if close else f" (it has {', '.join(allowed)})"
                )
                found.append(
                    Problem(at(location, *path, name), f"is not a field of a {what}{hint}")
                )
        elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern) and path:
            field = "stepName" if path[-1] in ("name", "as") and what != "scenario" else path[-1]
            found.append(Problem(where, _HINTS.get(str(field), _plain(error.message))))
        elif isinstance(kind, jsonschema_rs.ValidationErrorKind.Not):
            found.append(
                Problem(where, "is a word templates keep for themselves (tenant, now, today, fake)")
            )
        else:
            found.append(Problem(where, _plain(error.message)))
    return list(dict.fromkeys(found))


def _allowed(root: Mapping[str, Any], where: tuple[Any, ...]) -> list[str]:
    """The fields the object schema at `where` (references followed) has."""
    node: Any = root
    for part in where:
        node = node.get(part) if isinstance(node, dict) else None
    properties = node.get("properties") if isinstance(node, dict) else None
    return sorted(properties) if isinstance(properties, dict) else []


def _what(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"the {type(value).__name__} {value!r}"[:60]


def _plain(message: str) -> str:
    return message if len(message) <= 300 else message[:297] + "..."
