"""Compiled JSON Schema checks that explain failures as field-level issues a person can act on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonschema_rs

from billing_sandbox.errors import Issue

PathItem = str | int


class SchemaCheck:
    """One schema compiled once with jsonschema-rs (Draft 2020-12, formats checked)."""

    def __init__(self, schema: Mapping[str, Any], components: Mapping[str, Any]) -> None:
        # `$ref: '#/components/...'` inside the schema resolves against this root document.
        root = {**schema, "components": components}
        self._validator = jsonschema_rs.validator_for(root, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._validator.is_valid(instance))

    def issues(self, instance: Any, prefix: Sequence[PathItem] = ()) -> list[Issue]:
        """Every problem with `instance`, each named by its field path (`write_offs[0].type`)."""
        found: list[Issue] = []
        for error in self._validator.iter_errors(instance):
            found.extend(_explain(error, prefix))
        return _unique(found)


def field_name(path: Iterable[PathItem]) -> str:
    """Render a JSON path the way Candid names fields: `write_offs[0].amount_cents`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _explain(error: Any, prefix: Sequence[PathItem]) -> list[Issue]:
    path = [*prefix, *error.instance_path]
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return [Issue(field_name([*path, kind.property]), "is required")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfNotValid):
        return _explain_one_of(path, error.instance_path, kind.context, prefix)
    return [Issue(field_name(path), _plain(error.message))]


def _explain_one_of(
    path: list[PathItem], at: Sequence[PathItem], branches: Any, prefix: Sequence[PathItem]
) -> list[Issue]:
    """A failed discriminated union: report the branch the discriminator chose, or the choices.

    Our specs pin each branch's discriminator with `const`, so the chosen branch is the one
    without a `const` failure directly under the union's own instance.
    """
    depth = len(at) + 1
    discriminator: PathItem = "type"
    expected: list[str] = []
    chosen: list[Any] | None = None
    for branch in branches:
        pins = [
            e
            for e in branch
            if isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Constant)
            and len(e.instance_path) == depth
        ]
        if pins:
            expected.extend(str(e.kind.expected_value) for e in pins)
            discriminator = pins[0].instance_path[-1]
        elif chosen is None:
            chosen = list(branch)
    if chosen is not None:
        return [issue for e in chosen for issue in _explain(e, prefix)]
    if expected:
        choices = ", ".join(repr(value) for value in expected)
        return [Issue(field_name([*path, discriminator]), f"must be one of {choices}")]
    return [Issue(field_name(path), "does not match any of the allowed shapes")]


def _plain(message: str) -> str:
    """jsonschema-rs messages quote the instance first; keep them, they name the bad value."""
    return message if len(message) <= 300 else message[:297] + "..."


def _unique(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))
