"""JSON paths as Pact writes them in matching rules (`$.data[*].id`, `$['name with-dash']`,
`$.items[0]`, `$.*`), how well a rule's path fits a place in a document, and how the contract
tools name such a place and show a value from it in a message."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

# A rule's path longer than this is no path a Pact tool wrote; refusing it keeps parsing cheap.
MAX_PATH_LENGTH: Final = 1000
# What a message shows of a value: enough to recognise it, never a whole answer.
SHOWN_LENGTH: Final = 80

_PLAIN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# One place in a document below its root: an object's key or an array's index.
Place = tuple[str | int, ...]


@dataclass(frozen=True)
class Step:
    """One step of a path after `$`: a name (`.id`, `['id']`), an index (`[0]`), any name or
    index (`.*`), or any index (`[*]`)."""

    name: str | None = None
    index: int | None = None
    any_name: bool = False
    any_index: bool = False


class PathError(ValueError):
    """A rule's path that is not a JSON path as Pact writes them; the message says where."""


def parse_path(text: str) -> tuple[Step, ...]:
    """The steps of `text` after its `$`."""
    if len(text) > MAX_PATH_LENGTH:
        raise PathError(f"longer than {MAX_PATH_LENGTH} characters")
    if not text.startswith("$"):
        raise PathError("must start with $")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        char = text[position]
        if char == ".":
            step, position = _dotted_step(text, position + 1)
        elif char == "[":
            step, position = _bracketed_step(text, position + 1)
        else:
            raise PathError(f"unexpected {char!r} at character {position + 1}")
        steps.append(step)
    return tuple(steps)


def _dotted_step(text: str, start: int) -> tuple[Step, int]:
    """The step after a `.` at `start - 1`: `*`, or a name running to the next `.` or `[`."""
    if text.startswith("*", start):
        return Step(any_name=True), start + 1
    if text.startswith(".", start):
        raise PathError(f"recursive descent (..) at character {start}, which Pact does not use")
    end = start
    while end < len(text) and text[end] not in ".[":
        end += 1
    if end == start:
        raise PathError(f"a name must follow the . at character {start}")
    return Step(name=text[start:end]), end


def _bracketed_step(text: str, start: int) -> tuple[Step, int]:
    """The step inside `[...]` opened at `start - 1`: `*`, an index, or a quoted name."""
    if text.startswith("*]", start):
        return Step(any_index=True), start + 2
    if start < len(text) and text[start] in "'\"":
        name, end = _quoted(text, start)
        if not text.startswith("]", end):
            raise PathError(f"expected ] at character {end + 1}")
        return Step(name=name), end + 1
    close = text.find("]", start)
    digits = text[start:close] if close != -1 else ""
    if not digits.isascii() or not digits.isdigit():
        raise PathError(f"[ at character {start} must hold *, an index or a quoted name")
    return Step(index=int(digits)), close + 1


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The name quoted at `start` (with `\\` escaping the quote or itself), and where it ends."""
    quote = text[start]
    characters: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "\\" and position + 1 < len(text):
            characters.append(text[position + 1])
            position += 2
        elif char == quote:
            return "".join(characters), position + 1
        else:
            characters.append(char)
            position += 1
    raise PathError(f"the name quoted at character {start + 1} is not closed")


def weight(steps: Sequence[Step], place: Place) -> int:
    """How well a rule at `steps` fits `place` or a place above it (0: it does not). As in Pact's
    reference implementation: each step weighs 2 when it names the place's key or index
    exactly and 1 when it is a wildcard, the root weighs 2, and the weights multiply, so an
    exact name outweighs a wildcard."""
    if len(steps) > len(place):
        return 0
    total = 2
    for step, key in zip(steps, place, strict=False):
        total *= _step_weight(step, key)
        if total == 0:
            return 0
    return total


def _step_weight(step: Step, key: str | int) -> int:
    if step.any_name:
        return 1
    if step.any_index:
        return 1 if isinstance(key, int) else 0
    if step.index is not None:
        return 2 if str(key) == str(step.index) else 0
    return 2 if str(key) == step.name else 0


def render(place: Place) -> str:
    """`place` as a JSON path: `$.data[0].amount`, `$['name with-dash']`."""
    return "$" + "".join(_rendered_key(key) for key in place)


def render_steps(steps: Sequence[Step]) -> str:
    """`steps` as a path again, in the form Pact writes."""
    parts = ["$"]
    for step in steps:
        if step.any_name:
            parts.append(".*")
        elif step.any_index:
            parts.append("[*]")
        elif step.index is not None:
            parts.append(f"[{step.index}]")
        else:
            parts.append(_rendered_key(step.name or ""))
    return "".join(parts)


def _rendered_key(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _PLAIN_NAME.fullmatch(key):
        return f".{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"['{escaped}']"


def shown(value: Any, limit: int = SHOWN_LENGTH) -> str:
    """`value` as JSON text for a message, cut short past `limit` characters (and never
    walking deeper than a message could show, whatever the value's nesting)."""
    parts: list[str] = []
    _write(value, parts, limit + 1, depth=0)
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write(value: Any, parts: list[str], budget: int, depth: int) -> int:
    """Append `value` to `parts`, spending at most about `budget` characters; what is left."""
    if budget <= 0:
        return 0
    if isinstance(value, dict):
        return _write_items(
            [
                (json.dumps(str(key), ensure_ascii=False) + ": ", item)
                for key, item in value.items()
            ],
            "{}",
            parts,
            budget,
            depth,
        )
    if isinstance(value, list | tuple):
        return _write_items([("", item) for item in value], "[]", parts, budget, depth)
    text = json.dumps(value, ensure_ascii=False) if _is_json_leaf(value) else repr(value)
    text = text[:budget]
    parts.append(text)
    return budget - len(text)


def _write_items(
    items: list[tuple[str, Any]], brackets: str, parts: list[str], budget: int, depth: int
) -> int:
    if depth >= 4 and items:
        parts.append(brackets[0] + "…" + brackets[1])
        return budget - 3
    parts.append(brackets[0])
    budget -= 1
    for position, (label, item) in enumerate(items):
        if budget <= 0:
            return 0
        if position:
            parts.append(", ")
            budget -= 2
        parts.append(label)
        budget = _write(item, parts, budget - len(label), depth + 1)
    parts.append(brackets[1])
    return budget - 1


def _is_json_leaf(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
