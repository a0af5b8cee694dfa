"""One log line per vendor request (`serve` shows them; `--quiet` hides them).

The line is a `logging` record on the `billing_sandbox.requests` logger, with the request's
facts as attributes; a formatter turns it into text people read at a glance (the status
coloured on a terminal) or one JSON object per line for log shippers. Nothing secret is in
it: no headers, no bodies, no query string, and a refusal or a validation failure is named by
its kind and the fields at fault, never by the values sent.
"""

from __future__ import annotations

import json
import logging
from typing import IO, Any

from billing_sandbox.errors import ApiError, Forbidden, Unauthenticated, ValidationFailed

LOGGER = logging.getLogger("billing_sandbox.requests")
# The facts a record carries (`extra`), in the order the JSON form writes them.
FIELDS = ("method", "path", "status", "operationId", "api", "tenant", "durationMs", "fault",
          "problem")  # fmt: skip
_COLOURS = {2: "\x1b[32m", 3: "\x1b[36m", 4: "\x1b[33m", 5: "\x1b[31m"}
_RESET = "\x1b[0m"


def problem_of(error: ApiError) -> str:
    """What went wrong, without what was sent: validation failures by field, refusals by kind."""
    if isinstance(error, ValidationFailed):
        fields = ", ".join(dict.fromkeys(issue.field for issue in error.issues))
        return f"invalid {fields}"
    if isinstance(error, Unauthenticated | Forbidden):
        return type(error).__name__
    return error.message


def log_request(facts: dict[str, Any]) -> None:
    """Emit one request's line (the caller checks `LOGGER.isEnabledFor(INFO)` first)."""
    LOGGER.info("%(method)s %(path)s %(status)s", facts, extra={"request": facts})


class TextFormatter(logging.Formatter):
    """`12:00:01 POST /billing/charge/create 201 createChargeV1 acme 3.1 ms [fault …] — …`."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        facts: dict[str, Any] | None = getattr(record, "request", None)
        if facts is None:
            return super().format(record)
        status = str(facts["status"])
        if self.colour:
            status = f"{_COLOURS.get(facts['status'] // 100, '')}{status}{_RESET}"
        when = self.formatTime(record, "%H:%M:%S")
        line = (
            f"{when} {facts['method']} {facts['path']} {status} {facts['operationId']} "
            f"{facts['tenant'] or '-'} {facts['durationMs']:.1f} ms"
        )
        if facts.get("fault"):
            line += f" [{facts['fault']}]"
        if facts.get("problem"):
            line += f" — {facts['problem']}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, then the request's facts."""

    def format(self, record: logging.LogRecord) -> str:
        facts: dict[str, Any] = getattr(record, "request", None) or {"message": record.getMessage()}
        document = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            **{key: facts[key] for key in FIELDS if key in facts},
            **({"message": facts["message"]} if "message" in facts else {}),
        }
        return json.dumps(document, ensure_ascii=False)


LOG_FORMATS = ("text", "json")


def configure(stream: IO[str], log_format: str, quiet: bool) -> None:
    """Send request lines to `stream` as `text` (coloured on a terminal) or `json`, or send
    none with `quiet`."""
    LOGGER.handlers.clear()
    LOGGER.propagate = False
    if quiet:
        LOGGER.setLevel(logging.WARNING)
        return
    handler = logging.StreamHandler(stream)
    colour = log_format == "text" and stream.isatty()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(colour))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
