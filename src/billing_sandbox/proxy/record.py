"""Recorded exchanges: one redacted YAML file per request and response, and their loader.

A file (`<seq>-<operationId>-<status>.yaml`, `unmatched` for a request no operation matches):

    format: billing-sandbox/exchange-v1
    api: candid
    operationId: getWriteOff          # null when no operation matches
    recordedAt: '2026-03-01T12:00:00+00:00'
    request:  {method: GET, path: /api/write-offs/v1/…, query: limit=5, headers: {…}, body: …}
    response: {status: 200, headers: {…}, body: …}
    violations: [{operation: getWriteOff, field: $.amount_cents, message: Field required}]

`body` is the JSON value (null when there was none); a body that is not JSON is kept as text
under `bodyText` instead. Secret headers and fields are `[redacted]` (see `redact.py`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

import yaml

from billing_sandbox.spec import SAFE_LOADER

FORMAT = "billing-sandbox/exchange-v1"
_SEQ = re.compile(r"^(\d+)-")


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


class Recorder:
    """Writes each exchange to its own file in `directory`, numbered on from the files already
    there, so recording twice into one directory keeps both sessions in order."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        taken = [int(m.group(1)) for p in directory.iterdir() if (m := _SEQ.match(p.name))]
        self._seq = count(max(taken, default=0) + 1)

    def write(self, exchange: Exchange) -> Path:
        name = f"{next(self._seq):06d}-{exchange.operation_id or 'unmatched'}-{exchange.status}"
        target = self.directory / f"{name}.yaml"
        text = yaml.safe_dump(exchange.as_json(), sort_keys=False, allow_unicode=True)
        # Written beside and renamed, so a reader never sees half a file. Synchronously: the
        # files are small and this is a development tool, not a hot path.
        partial = target.with_suffix(".yaml.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        return target


def load_exchanges(directory: Path) -> list[Exchange]:
    """Every exchange recorded in `directory` (`.yaml`, `.yml` or `.json`), in recorded order."""
    files = sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml", ".json"})
    return [load_exchange(path) for path in files]


def load_exchange(path: Path) -> Exchange:
    """One recorded exchange, or `RecordingError` naming the file and what is wrong with it."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
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
