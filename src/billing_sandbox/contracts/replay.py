"""The request a verification sends for one interaction: the pact's example, with the values a
story learnt substituted, its generators run, and our credentials in place of the pact's own.

Pacts carry the values of the run that recorded them: ids a provider made then, and credentials
that are stale or redacted. A replay sends what this run needs instead, exactly where the pact
says (generators) or where the recorded value stands whole (substitutions)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from billing_sandbox.contracts.jsonpath import PathError, Step, parse_path
from billing_sandbox.contracts.model import Interaction, Request, Response

# Values shorter than this are not learnt as replacements: a recorded "USD" or "1" that the
# replay answered differently is more likely a difference than an id.
MIN_LEARNT_CHARS = 4
# How deep the walks below go into a body: pacts and answers are parsed JSON, bounded in size,
# but a hostile one may nest far enough to exhaust Python's stack.
MAX_DEPTH = 64
# Header names a client sets from the request itself: a pact's recorded ones would be wrong.
_TRANSPORT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# `${name}` in a ProviderState generator's expression.
_STATE_VALUE = re.compile(r"\$\{([^}]*)\}")
# How many of the values the setups answered a missing-value message lists.
_NAMED_VALUES = 20
# Characters a path keeps as they are when it is put on the wire; others are percent-encoded
# (a `?` or `#` in a pact's path is part of the path, not a query or a fragment).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class CannotPrepare(Exception):
    """The interaction cannot be sent as the pact asks: the reason, for its result."""


@dataclass(frozen=True)
class Signing:
    """How this run signs requests of one API: the credentials' headers and query values, and
    the header names that carry credentials (lower case), whose pact values are dropped."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)
    query: dict[str, str] = field(default_factory=dict, repr=False)
    credential_headers: frozenset[str] = frozenset({"authorization"})


def signing_for(spec: Path, values: Mapping[str, str]) -> Signing:
    """How to sign requests with `values` (by security-scheme name, as `conformance`'s
    sign-in gives them), by the schemes of `spec`: an http bearer scheme is
    `Authorization: Bearer <value>`, an apiKey one the header (or query value) it names.

    Every credential header the spec names is dropped from a pact's requests, given a value
    here or not: a pact's own are stale or redacted."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    components = document.get("components") if isinstance(document, dict) else None
    schemes = (components or {}).get("securitySchemes") or {}
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    credential_headers = {"authorization"}
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict):
            continue
        kind, value = scheme.get("type"), values.get(name)
        if kind == "apiKey" and scheme.get("in") == "header":
            credential_headers.add(str(scheme.get("name", "")).lower())
        if value is None:
            continue
        if kind == "http":
            prefix = "Bearer" if str(scheme.get("scheme", "")).lower() == "bearer" else "Basic"
            headers["Authorization"] = f"{prefix} {value}"
        elif kind == "apiKey" and scheme.get("in") == "header":
            headers[str(scheme["name"])] = value
        elif kind == "apiKey" and scheme.get("in") == "query":
            query[str(scheme["name"])] = value
    return Signing(headers, query, frozenset(credential_headers))


@dataclass(frozen=True)
class PreparedRequest:
    """What goes on the wire (the path already percent-encoded), and what was noted on the way:
    generators left at their example, and why."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    content: bytes | None
    notes: tuple[str, ...] = ()


def prepare(
    interaction: Interaction,
    signing: Signing,
    substitutions: Mapping[str, str],
    state_values: Mapping[str, Any] | None,
) -> PreparedRequest:
    """The request to send for `interaction`.

    `substitutions` maps values the pact recorded to those this run answered (exact equality);
    `state_values` are what the provider-state setups answered, or None when no state could be
    set (the target is not a sandbox): ProviderState generators then keep their examples.
    Raises CannotPrepare when a generator names a value no setup answered.
    """
    request = interaction.request
    notes: list[str] = []
    # Our credentials replace any the pact's query holds, as they do its headers (below).
    query: dict[str, list[str]] = {
        name: substituted(values, substitutions)
        for name, values in request.query.items()
        if name not in signing.query
    }
    headers = {name: substituted(value, substitutions) for name, value in request.headers.items()}
    body = substituted(request.body, substitutions)
    path = "/".join(substitutions.get(part, part) for part in request.path.split("/"))

    run = _Generating(state_values, notes)
    for where, generator in request.generators.get("path", {}).items():
        path = str(run(generator, path, f"path{where}"))
    for name, generator in request.generators.get("query", {}).items():
        if name in query:
            query[name] = [str(run(generator, v, f"query {name}")) for v in query[name]]
    for name, generator in request.generators.get("header", {}).items():
        known = next((h for h in headers if h.lower() == name.lower()), name)
        headers[known] = str(run(generator, headers.get(known, ""), f"header {name}"))
    for where, generator in request.generators.get("body", {}).items():
        body = _generate_in_body(body, where, generator, run, notes)

    return PreparedRequest(
        method=request.method,
        path=quote(path if path.startswith("/") else "/" + path, safe=_PATH_SAFE),
        query=[*((n, v) for n, values in query.items() for v in values), *signing.query.items()],
        headers=_typed(_signed(headers, signing), request, body),
        content=_content(request, body),
        notes=tuple(notes),
    )


def expected_response(
    response: Response, state_values: Mapping[str, Any] | None
) -> tuple[Response, list[str]]:
    """The answer to expect: `response` with its ProviderState generators run on its body
    and headers from `state_values` (what the provider-state setups answered), as Pact's
    verifiers run them: a charge the consumer fetched by a scenario's id is expected to carry
    this run's id. A value no setup answered, or no state set at all, leaves the example
    expected, noted. The other kinds (random values, dates) make values no answer can equal;
    the consumer's matchers at those places judge them."""
    generators = response.generators
    if not any(
        generator.get("type") == "ProviderState"
        for category in ("body", "header")
        for generator in generators.get(category, {}).values()
    ):
        return response, []
    notes: list[str] = []
    run = _Generating(state_values, notes, missing_fails=False)
    body, headers = response.body, dict(response.headers)
    for name, generator in generators.get("header", {}).items():
        if generator.get("type") != "ProviderState":
            continue
        known = next((h for h in headers if h.lower() == name.lower()), None)
        if known is not None:
            headers[known] = str(run(generator, headers[known], f"response header {name}"))
    for where, generator in generators.get("body", {}).items():
        if generator.get("type") == "ProviderState":
            body = _generate_in_body(body, where, generator, run, notes, "response body")
    return dataclasses.replace(response, body=body, headers=headers), notes


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


def _signed(headers: Mapping[str, str], signing: Signing) -> dict[str, str]:
    """The pact's headers without its credentials and transport headers, then ours."""
    dropped = signing.credential_headers | _TRANSPORT_HEADERS
    kept = {name: value for name, value in headers.items() if name.lower() not in dropped}
    return {**kept, **signing.headers}


def _content(request: Request, body: Any) -> bytes | None:
    """The body's bytes: a string is the body's text, as Pact reads one (the reader has
    parsed every JSON text it could); anything else is JSON."""
    if not request.has_body:
        return None
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def _typed(headers: dict[str, str], request: Request, body: Any) -> dict[str, str]:
    """`headers`, saying the body is JSON when it is and the pact said nothing: a provider
    reads a body by its Content-Type."""
    if not request.has_body or isinstance(body, str):
        return headers
    if any(name.lower() == "content-type" for name in headers):
        return headers
    return {**headers, "Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------
# Generators


class _Generating:
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

# The pattern letters of Java's date formats (which Pact's generators take), a run of one
# letter at a time: `yyyy`, `MM`, `'T'` (quoted text), `SSS`, `XXX`.
_PATTERN_RUN = re.compile(r"'([^']*)'|([A-Za-z])\2*|[^A-Za-z']+")
_FIELDS: dict[str, Callable[[datetime.datetime], str]] = {
    "yyyy": lambda m: f"{m.year:04d}",
    "uuuu": lambda m: f"{m.year:04d}",
    "yy": lambda m: f"{m.year % 100:02d}",
    "MMMM": lambda m: m.strftime("%B"),
    "MMM": lambda m: m.strftime("%b"),
    "MM": lambda m: f"{m.month:02d}",
    "M": lambda m: str(m.month),
    "dd": lambda m: f"{m.day:02d}",
    "d": lambda m: str(m.day),
    "DDD": lambda m: m.strftime("%j"),
    "EEEE": lambda m: m.strftime("%A"),
    "EEE": lambda m: m.strftime("%a"),
    "HH": lambda m: f"{m.hour:02d}",
    "H": lambda m: str(m.hour),
    "hh": lambda m: f"{(m.hour - 1) % 12 + 1:02d}",
    "h": lambda m: str((m.hour - 1) % 12 + 1),
    "a": lambda m: "AM" if m.hour < 12 else "PM",
    "mm": lambda m: f"{m.minute:02d}",
    "m": lambda m: str(m.minute),
    "ss": lambda m: f"{m.second:02d}",
    "s": lambda m: str(m.second),
}


def format_moment(moment: datetime.datetime, pattern: str) -> str:
    """`moment` (aware) in a Java date pattern such as `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`; a letter
    not known here raises ValueError (the generator then keeps its example)."""
    out: list[str] = []
    for match in _PATTERN_RUN.finditer(pattern):
        quoted, letter, run = match.group(1), match.group(2), match.group(0)
        if quoted is not None:
            out.append(quoted or "'")  # `''` is a quote
        elif letter is None:
            out.append(run)
        elif letter == "S":
            out.append(f"{moment.microsecond:06d}"[: len(run)].ljust(len(run), "0"))
        elif letter in "XZx":
            out.append(_offset(moment, letter, len(run)))
        elif run in _FIELDS:
            out.append(_FIELDS[run](moment))
        else:
            raise ValueError(f"date pattern {pattern!r}: {run!r} is not a pattern known here")
    return "".join(out)


def _offset(moment: datetime.datetime, letter: str, width: int) -> str:
    """The UTC offset as Java prints it: `X` gives `Z` for UTC, `Z` and short runs `+0000`,
    runs of three `+00:00`."""
    offset = moment.strftime("%z") or "+0000"
    if letter == "X" and offset == "+0000":
        return "Z"
    if letter == "Z" or width < 3:
        return offset
    return f"{offset[:3]}:{offset[3:]}"


def _generate_in_body(
    body: Any,
    where: str,
    generator: Mapping[str, Any],
    run: _Generating,
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
