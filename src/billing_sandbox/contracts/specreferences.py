"""Where a part of an OpenAPI document sits (`components.schemas.Charge.properties.id`), and the
document's local `$ref`s followed to what they name.

A vendor's document is read as published: references whose names hold an unescaped `/` are
found all the same, and a chain that leads nowhere (another file, a missing name, a cycle) ends
in an empty schema, which admits anything, rather than in an error: the check cannot say more
there, and says what it can elsewhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

# A chain of references longer than this (a → b → c …) is taken for a cycle.
MAX_REF_HOPS = 32


@dataclass(frozen=True)
class Located:
    """A part of the document and where it sits: `components.schemas.Charge.properties.id`."""

    value: Any = field(repr=False)
    location: str

    def at(self, *keys: str | int) -> Located:
        """The part under `keys` (None when absent), its location extended."""
        value = self.value
        for key in keys:
            if isinstance(value, dict):
                value = value[key] if key in value else value.get(_other_spelling(key))
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                value = None
        return Located(value, ".".join([self.location, *(str(key) for key in keys)]))


def _other_spelling(key: str | int) -> str | int:
    """YAML reads an unquoted `200:` as a number: a status is looked up both ways."""
    if isinstance(key, int):
        return str(key)
    return int(key) if key.isdigit() else key


def resolve(document: dict[str, Any], part: Located) -> Located:
    """`part` with its `$ref` chain followed to a node that is not a bare reference. A
    reference that leads nowhere (outside the document, a missing name, a cycle) comes back
    as an empty schema, which admits anything: the check cannot say more there."""
    hops = 0
    while isinstance(part.value, dict) and isinstance(part.value.get("$ref"), str):
        if hops >= MAX_REF_HOPS:
            return Located({}, part.location)
        part = target(document, part.value["$ref"]) or Located({}, part.location)
        hops += 1
    return part


def target(document: dict[str, Any], reference: str) -> Located | None:
    """What a local reference (`#/components/schemas/Charge`) names in `document`, or None."""
    if not reference.startswith("#"):
        return None  # another file or a URL: not followed
    steps = [
        unquote(step).replace("~1", "/").replace("~0", "~") for step in reference[1:].split("/")[1:]
    ]
    node: Any = document
    where: list[str] = []
    index = 0
    while index < len(steps):
        if isinstance(node, list):
            if not steps[index].isdigit() or int(steps[index]) >= len(node):
                return None
            node, index = node[int(steps[index])], index + 1
            where.append(steps[index - 1])
            continue
        if not isinstance(node, dict):
            return None
        # Some generators leave `/` unescaped in names (Candid's
        # `type_pre-encounter/organizationExternalProviders/v1:Page`): take the shortest
        # run of steps that is a key.
        for end in range(index + 1, len(steps) + 1):
            key = "/".join(steps[index:end])
            if key in node:
                node, index = node[key], end
                where.append(key)
                break
        else:
            return None
    return Located(node, ".".join(where))
