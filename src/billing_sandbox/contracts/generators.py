"""Pact's generators run on the examples they replace: a ProviderState one takes a value the
provider-state setups answered (the id of the charge a scenario made this run), the random and
date kinds make a fresh value, and any other kind keeps its example, noted.

A value is put at every place the generator's JSON path names in a body; a ProviderState value
no setup answered is CannotPrepare for a request (it cannot be sent with a stale id), a note
for an expected answer."""

from __future__ import annotations

import datetime
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from billing_sandbox.contracts.jsonpath import PathError, Step, parse_path
from billing_sandbox.contracts.momentformat import format_moment
from billing_sandbox.contracts.substitutions import MAX_DEPTH

# `${name}` in a ProviderState generator's expression.
_STATE_VALUE = re.compile(r"\$\{([^}]*)\}")
# How many of the values the setups answered a missing-value message lists.
_NAMED_VALUES = 20


class CannotPrepare(Exception):
    """The interaction cannot be sent as the pact asks: the reason, for its result."""


class Generating:
    """Runs one generator on the example it replaces. ProviderState reads the setup answers;
    the random kinds use the standard library; any other kind keeps the example, noted.

    `missing_fails`: a ProviderState value no setup answered is CannotPrepare (a request
    cannot be sent with a stale id), else a note and the example (an expected answer)."""

    def __init__(
        self,
        state_values: Mapping[str, Any] | None,
        notes: list[str],
        *,
        missing_fails: bool = True,
    ) -> None:
        self.state_values = state_values
        self.notes = notes
        self.missing_fails = missing_fails

    def __call__(self, generator: Mapping[str, Any], example: Any, where: str) -> Any:
        kind = str(generator.get("type", ""))
        if kind == "ProviderState":
            return self._from_state(generator, example, where)
        make = _RANDOM.get(kind)
        if make is None:
            self.notes.append(f"{where}: generator {kind or '(no type)'} not run; example sent")
            return example
        try:
            return make(generator)
        except (TypeError, ValueError, OverflowError) as error:
            self.notes.append(f"{where}: generator {kind} cannot run ({error}); example sent")
            return example

    def _from_state(self, generator: Mapping[str, Any], example: Any, where: str) -> Any:
        expression = str(generator.get("expression", ""))
        if self.state_values is None:
            self.notes.append(
                f"{where}: ProviderState generator {expression!r} kept its example: no "
                "provider state was set"
            )
            return example
        names = _STATE_VALUE.findall(expression)
        missing = [name for name in names if name not in self.state_values]
        if missing:
            known = sorted(self.state_values)
            answered = ", ".join(known[:_NAMED_VALUES]) + (
                ", …" if len(known) > _NAMED_VALUES else ""
            )
            needs = (
                f"{where}: ProviderState generator {expression!r} needs "
                f"{', '.join(repr(n) for n in missing)}, which no provider-state setup "
                f"answered (they answered {answered or 'nothing'})"
            )
            if self.missing_fails:
                raise CannotPrepare(needs)
            self.notes.append(f"{needs}; the example is expected")
            return example
        values = self.state_values
        whole = _STATE_VALUE.fullmatch(expression)
        if whole is not None:
            value = values[whole.group(1)]  # its own type: a number stays one
        else:
            value = _STATE_VALUE.sub(lambda found: _text(values[found.group(1)]), expression)
        return _as_data_type(value, str(generator.get("dataType", "RAW")))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _as_data_type(value: Any, data_type: str) -> Any:
    """A generated value as the generator's `dataType` asks (RAW: as it came)."""
    try:
        if data_type == "STRING":
            return _text(value)
        if data_type == "INTEGER":
            return int(value)
        if data_type in {"DECIMAL", "FLOAT"}:
            return float(value)
        if data_type == "BOOLEAN":
            return value if isinstance(value, bool) else str(value).lower() == "true"
    except (TypeError, ValueError):
        return value
    return value


def _uuid(generator: Mapping[str, Any]) -> str:
    made = uuid.uuid4()
    shape = generator.get("format", "lower-case-hyphenated")
    if shape == "simple":
        return made.hex
    if shape == "upper-case-hyphenated":
        return str(made).upper()
    if shape == "URN":
        return made.urn
    return str(made)


def _random_int(generator: Mapping[str, Any]) -> int:
    low, high = int(generator.get("min", 0)), int(generator.get("max", 2**31 - 1))
    if high < low:
        raise ValueError(f"min {low} is above max {high}")
    return low + secrets.randbelow(high - low + 1)


def _random_string(generator: Mapping[str, Any]) -> str:
    size = min(int(generator.get("size", 20)), 10_000)
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(size))


def _random_hexadecimal(generator: Mapping[str, Any]) -> str:
    digits = min(int(generator.get("digits", 10)), 10_000)
    return "".join(secrets.choice("0123456789abcdef") for _ in range(digits))


def _random_decimal(generator: Mapping[str, Any]) -> float:
    digits = max(2, min(int(generator.get("digits", 6)), 15))  # what a float holds exactly
    text = str(1 + secrets.randbelow(9)) + "".join(str(secrets.randbelow(10)) for _ in
                                                   range(digits - 1))  # fmt: skip
    point = 1 + secrets.randbelow(digits - 1)
    return float(f"{text[:point]}.{text[point:]}")


def _random_boolean(_: Mapping[str, Any]) -> bool:
    return secrets.randbelow(2) == 1


def _moment(default_format: str) -> Callable[[Mapping[str, Any]], str]:
    def make(generator: Mapping[str, Any]) -> str:
        now = datetime.datetime.now(datetime.UTC)
        return format_moment(now, str(generator.get("format") or default_format))

    return make


_RANDOM: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "Uuid": _uuid,
    "RandomInt": _random_int,
    "RandomString": _random_string,
    "RandomHexadecimal": _random_hexadecimal,
    "RandomDecimal": _random_decimal,
    "RandomBoolean": _random_boolean,
    "Date": _moment("yyyy-MM-dd"),
    "Time": _moment("HH:mm:ss"),
    "DateTime": _moment("yyyy-MM-dd'T'HH:mm:ss"),
}


def generate_in_body(
    body: Any,
    where: str,
    generator: Mapping[str, Any],
    run: Generating,
    notes: list[str],
    part: str = "body",
) -> Any:
    """`body` with the generator run at each place the JSON path `where` names."""
    text = where.strip()
    try:
        steps = parse_path(text if text.startswith("$") else f"$.{text}")
    except PathError as problem:
        notes.append(f"{part} {where}: {problem}; generator not run")
        return body
    return _set_at(body, steps, lambda example: run(generator, example, f"{part} {where}"), 0)


def _set_at(value: Any, steps: Sequence[Step], make: Callable[[Any], Any], depth: int) -> Any:
    if not steps:
        return make(value)
    if depth > MAX_DEPTH:
        return value
    step, rest = steps[0], steps[1:]
    if isinstance(value, dict):
        if step.any_name:
            return {key: _set_at(item, rest, make, depth + 1) for key, item in value.items()}
        if step.name is not None and step.name in value:
            return {**value, step.name: _set_at(value[step.name], rest, make, depth + 1)}
    if isinstance(value, list):
        if step.any_name or step.any_index:
            return [_set_at(item, rest, make, depth + 1) for item in value]
        if step.index is not None and step.index < len(value):
            at = step.index
            return [*value[:at], _set_at(value[at], rest, make, depth + 1), *value[at + 1 :]]
    return value
