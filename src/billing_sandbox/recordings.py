"""Recorded exchanges: their file format, reading them, and laying them over tenants' seed data.

`billing-sandbox proxy --record DIR` writes what a real server answered, one file per request
and response (`<seq>-<operationId>-<status>.yaml`, `unmatched` for a request no operation
matches):

    format: billing-sandbox/exchange-v1
    api: candid
    operationId: getWriteOff          # null when no operation matches
    recordedAt: '2026-03-01T12:00:00+00:00'
    request:  {method: GET, path: /api/write-offs/v1/…, query: limit=5, headers: {…}, body: …}
    response: {status: 200, headers: {…}, body: …}
    violations: [{operation: getWriteOff, field: $.amount_cents, message: Field required}]

`body` is the JSON value (null when there was none); a body that is not JSON is kept as text
under `bodyText` instead. Secret headers and fields are `[redacted]`.

`serve --recordings DIR` reads them once per server. Only answers that can hold records count
(each API names its operations), and only those that still match our spec: a recorded body
that breaks the spec would make the sandbox serve a response that fails its own validation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from billing_sandbox.errors import json_path
from billing_sandbox.spec.document import Spec, load_yaml

FORMAT = "billing-sandbox/exchange-v1"


class RecordingError(ValueError):
    """A recorded file is not an exchange this version can read; says which file and why."""


@dataclass(frozen=True)
class Message:
    """One side of an exchange as recorded: headers (redacted) and body."""

    headers: dict[str, str]
    body: Any  # the JSON value, or None
    body_text: str | None = None  # a body that is not JSON

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"headers": self.headers, "body": self.body}
        if self.body_text is not None:
            found["bodyText"] = self.body_text
        return found


@dataclass(frozen=True)
class Exchange:
    """A request, the upstream's response, and how the response broke the spec."""

    api: str
    operation_id: str | None
    recorded_at: str
    method: str
    path: str
    query: str
    request: Message
    status: int
    response: Message
    violations: tuple[dict[str, str], ...] = ()
    # The file it was read from (empty for one being recorded), so a loader can name it.
    source: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "api": self.api,
            "operationId": self.operation_id,
            "recordedAt": self.recorded_at,
            "request": {
                "method": self.method,
                "path": self.path,
                "query": self.query,
                **self.request.as_json(),
            },
            "response": {"status": self.status, **self.response.as_json()},
            "violations": [dict(v) for v in self.violations],
        }


def load_exchanges(directory: Path) -> list[Exchange]:
    """Every exchange recorded in `directory` (`.yaml`, `.yml` or `.json`), in recorded order."""
    files = sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
    return [load_exchange(path) for path in files]


def load_exchange(path: Path) -> Exchange:
    """One recorded exchange, or `RecordingError` naming the file and what is wrong with it."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise RecordingError(f"{path}: not YAML or JSON ({error})") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a recorded exchange (format must be {FORMAT!r})")
    try:
        request, response = data["request"], data["response"]
        return Exchange(
            api=str(data["api"]),
            operation_id=data["operationId"],
            recorded_at=_text(data["recordedAt"]),
            method=str(request["method"]),
            path=str(request["path"]),
            query=str(request.get("query", "")),
            request=_message(request),
            status=int(response["status"]),
            response=_message(response),
            violations=tuple(dict(v) for v in data.get("violations", [])),
            source=path.name,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RecordingError(f"{path}: missing or malformed field {error}") from error


def _message(side: dict[str, Any]) -> Message:
    headers = {str(k): str(v) for k, v in side.get("headers", {}).items()}
    return Message(headers, side.get("body"), side.get("bodyText"))


def _text(value: Any) -> str:
    # A hand-written file may leave the timestamp unquoted, which YAML reads as a datetime.
    return value.isoformat() if isinstance(value, datetime) else str(value)


# ---- as seed data ----


@dataclass(frozen=True)
class Notice:
    """What became of a recorded exchange (or of one record of it) that is not served
    exactly as recorded: skipped, and why; or loaded, and what the sandbox serves otherwise."""

    source: str
    reason: str
    loaded: bool = False

    def __str__(self) -> str:
        return f"{'changed' if self.loaded else 'skipped'} {self.source}: {self.reason}"


@dataclass(frozen=True)
class Recordings:
    """The usable exchanges of a recordings directory, by API, in recorded order."""

    directory: Path | None = None
    by_api: Mapping[str, tuple[Exchange, ...]] = field(default_factory=dict)
    # Exchanges that hold no records (tokens, sign-ins, errors) are passed over silently.
    ignored: int = 0
    notices: tuple[Notice, ...] = ()

    @property
    def skipped(self) -> tuple[Notice, ...]:
        return tuple(notice for notice in self.notices if not notice.loaded)

    @property
    def changed(self) -> tuple[Notice, ...]:
        """Records loaded, but served with some recorded value the sandbox does not keep."""
        return tuple(notice for notice in self.notices if notice.loaded)

    def of(self, api_name: str) -> tuple[Exchange, ...]:
        return self.by_api.get(api_name, ())

    def summary(self) -> str:
        """One line for the banner: what was loaded from where, and how much was not."""
        loaded = ", ".join(f"{name} {len(found)}" for name, found in self.by_api.items())
        text = f"{self.directory}: {loaded or 'no'} exchanges with records"
        if self.ignored:
            text += f"; {self.ignored} without records passed over"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        if self.changed:
            text += f"; {len(self.changed)} loaded with changes"
        if self.notices:
            text += " (see below)"
        return text


@dataclass(frozen=True)
class Loadable:
    """What one API takes from recordings: the operations whose answers hold records, and
    the spec those answers must still match."""

    operations: frozenset[str]
    spec: Spec


def read_recordings(
    directory: Path, served: Collection[str], loadable: Mapping[str, Loadable]
) -> Recordings:
    """The exchanges in `directory` whose answers the sandbox can serve as seed data, or a
    `RecordingError` when the directory or one of its files cannot be read at all. `served`
    names every API of the sandbox; `loadable`, by API name, those that take recordings."""
    if not directory.is_dir():
        raise RecordingError(f"recordings directory {directory} does not exist")
    by_api: dict[str, list[Exchange]] = {}
    ignored = 0
    skipped: list[Notice] = []
    for exchange in load_exchanges(directory):
        takes = loadable.get(exchange.api)
        if takes is None:
            problem = f"no API of the sandbox is called {exchange.api!r}"
            if exchange.api in served:
                problem = f"the sandbox loads no recordings of {exchange.api!r}"
            skipped.append(Notice(exchange.source, problem))
            continue
        # A HEAD answer has no body to take records from.
        holds_none = exchange.method == "HEAD" or exchange.status >= 300
        if exchange.operation_id not in takes.operations or holds_none:
            ignored += 1
            continue
        breach = _breach(exchange, takes.spec)
        if breach is not None:
            skipped.append(Notice(exchange.source, breach))
            continue
        by_api.setdefault(exchange.api, []).append(exchange)
    return Recordings(
        directory,
        {name: tuple(found) for name, found in by_api.items()},
        ignored,
        tuple(skipped),
    )


def _breach(exchange: Exchange, spec: Spec) -> str | None:
    """How the recorded answer breaks the spec as it is today (recordings outlive specs)."""
    [op] = [op for op in spec.operations if op.operation_id == exchange.operation_id]
    if exchange.status not in op.response_checks:
        return f"status {exchange.status} is not declared for {op.operation_id}"
    check = op.response_checks[exchange.status]
    if check is None:
        return None
    issues = check.issues(exchange.response.body, "response")
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        return f"the answer breaks the spec at {json_path(first.path)}: {first.message}{more}"
    return None


def notice_lines(found: Sequence[Notice], most: int = 20) -> str:
    """The banner's list of what was skipped or changed, one per line, the first `most` of
    them (a recording of a real server's pages can name hundreds)."""
    lines = [f"\n               {item}" for item in found[:most]]
    if len(found) > most:
        lines.append(f"\n               … and {len(found) - most} more")
    return "".join(lines)
