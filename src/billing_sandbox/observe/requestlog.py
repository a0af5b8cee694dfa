"""One log line per vendor request (`serve` shows them; `--quiet` hides them).

A line is text people read at a glance (the status coloured on a terminal) or one JSON object
for log shippers. Nothing secret is in it: no headers, no bodies, no query string, and a
refusal or a validation failure is named by its kind and the fields at fault, never by the
values sent.

The lines are written straight to their stream, not through `logging`: a `LogRecord`, its
caller lookup and its handler lock cost a quarter of a by-id request, for a line whose fields
are all known here.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import IO

from billing_sandbox.errors import ApiError, Forbidden, Unauthenticated, ValidationFailed

# The facts of a line, in this order, as a plain tuple (one is made for every request, and a
# NamedTuple's constructor cost as much as the rest of the line but its formatting).
FIELDS = ("method", "path", "status", "operationId", "api", "tenant", "durationMs", "fault",
          "problem")  # fmt: skip
RequestFacts = tuple[str, str, int, str, str, str | None, float, str | None, str | None]
_COLOURS = {2: "\x1b[32m", 3: "\x1b[36m", 4: "\x1b[33m", 5: "\x1b[31m"}
_RESET = "\x1b[0m"
# The most of any one value a line shows (a path, a tenant, a problem's text): a client's
# value is cut past it, its length said, so no request makes a line as long as itself.
MAX_VALUE_CHARS = 200


def shown(value: str) -> str:
    """`value` as a log line may show it: a bounded prefix, and control characters escaped
    (a client's newline would forge a second line, its escape sequences a terminal's colours;
    invisible formatting characters could reorder what a reader sees)."""
    if len(value) > MAX_VALUE_CHARS:
        value = f"{value[:MAX_VALUE_CHARS]}… ({len(value)} characters)"
    if not value.isprintable():
        value = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in value)
    return value


def _shown(value: str | None) -> str | None:
    return None if value is None else shown(value)


def problem_of(error: ApiError) -> str:
    """What went wrong, without what was sent: validation failures by field, refusals by kind."""
    if isinstance(error, ValidationFailed):
        fields = ", ".join(dict.fromkeys(issue.field for issue in error.issues))
        return f"invalid {fields}"
    if isinstance(error, Unauthenticated | Forbidden):
        return type(error).__name__
    return error.message


class _SecondClock:
    """Wall-clock time formatted once per second (a line a request; a second is thousands).
    `stamp` is the time as last read (`read()`): the lines of one batch share it (see
    `RequestLog`), since reading the clock cost a sixth of a line."""

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._second = -1
        self.stamp = ""

    def read(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self.stamp = time.strftime(self._pattern, time.localtime(second))
        return self.stamp


# Durations under 100 ms, as the line shows them in milliseconds ("0.0" to "99.9"), by tenths:
# nearly every request's, looked up instead of formatted from two integer divisions.
_TABLED = 1000
_TENTHS = tuple(f"{tenths // 10}.{tenths % 10}" for tenths in range(_TABLED))


class TextLine:
    """`12:00:01 POST /billing/charge/create 201 createChargeV1 acme 3.1 ms [fault …] — …`."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self.clock = _SecondClock("%H:%M:%S")
        self._statuses: dict[int, str] = {}  # each status as it is written, made once

    def __call__(self, facts: RequestFacts) -> str:
        method, path, status, operation_id, _, tenant, duration_ms, fault, problem = facts
        status_text = self._statuses.get(status) or self._status_text(status)
        # Checked here rather than in `shown` (a call each): nearly every path and tenant is
        # short and printable. The duration in tenths of a millisecond, as integers: a float's
        # `.1f` costs more than the rest of the line's formatting.
        if len(path) > MAX_VALUE_CHARS or not path.isprintable():
            path = shown(path)
        if tenant is None:
            tenant = "-"
        elif len(tenant) > MAX_VALUE_CHARS or not tenant.isprintable():
            tenant = shown(tenant)
        tenths = int(duration_ms * 10 + 0.5)
        took = _TENTHS[tenths] if 0 <= tenths < _TABLED else f"{tenths // 10}.{tenths % 10}"
        line = f"{self.clock.stamp} {method} {path} {status_text} {operation_id} {tenant} {took} ms"
        if fault:
            line += f" [{shown(fault)}]"
        if problem:
            line += f" — {shown(problem)}"
        return line

    def _status_text(self, status: int) -> str:
        text = str(status)
        if self.colour:
            text = f"{_COLOURS.get(status // 100, '')}{text}{_RESET}"
        self._statuses[status] = text
        return text


class JsonLine:
    """One JSON object per line: `time`, `level`, then the request's facts."""

    def __init__(self) -> None:
        self.clock = _SecondClock("%Y-%m-%dT%H:%M:%S%z")

    def __call__(self, facts: RequestFacts) -> str:
        document: dict[str, object] = {"time": self.clock.stamp, "level": "info"}
        method, path, status, operation_id, api, tenant, duration_ms, fault, problem = facts
        values = (method, shown(path), status, operation_id, api, _shown(tenant),
                  round(duration_ms, 3), _shown(fault), _shown(problem))  # fmt: skip
        document.update(zip(FIELDS, values, strict=True))
        return json.dumps(document, ensure_ascii=False)


class RequestLog:
    """Writes each request's line to `stream` as it is answered. With `flush_after`, lines are
    gathered and written to the stream together that many seconds after a line that found
    none waiting (or once `MAX_WAITING_LINES` wait), then flushed: under load, one write to
    the file carries the lines of many requests, and a request pays only for its line."""

    def __init__(
        self, stream: IO[str], line: TextLine | JsonLine, flush_after: float | None = None
    ) -> None:
        self._stream = stream
        self._line = line
        self._flush_after = flush_after
        self._waiting: list[str] = []

    def write(self, facts: RequestFacts) -> None:
        waiting = self._waiting
        if not waiting:
            # A batch's lines are stamped with the second it began: at most `flush_after`
            # (a fifth of a second) before their own.
            self._line.clock.read()
        waiting.append(self._line(facts))
        if len(waiting) > 1:
            if len(waiting) >= MAX_WAITING_LINES:
                self._write_out()
            return
        if self._flush_after is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside the server's loop: nothing would flush it later
                pass
            else:
                loop.call_later(self._flush_after, self.flush)
                return
        self.flush()

    def _write_out(self) -> None:
        """The waiting lines, to the stream (a list swapped, so a line is never lost)."""
        waiting, self._waiting = self._waiting, []
        if waiting:
            waiting.append("")
            self._stream.write("\n".join(waiting))

    def flush(self) -> None:
        self._write_out()
        self._stream.flush()


# The most lines that wait for the flush: a burst past it is written out at once, so what
# waits in memory stays small (a few hundred short lines) whatever the request rate.
MAX_WAITING_LINES = 512


_active: RequestLog | None = None


def configure(
    stream: IO[str], log_format: str, quiet: bool, flush_after: float | None = None
) -> None:
    """Send request lines to `stream` as `text` (coloured on a terminal) or `json`, or send
    none with `quiet`; `flush_after` batches the writes (see `RequestLog`)."""
    global _active  # one request log per process, as `serve` runs one server
    if quiet:
        _active = None
        return
    line = JsonLine() if log_format == "json" else TextLine(colour=stream.isatty())
    _active = RequestLog(stream, line, flush_after)


def active() -> RequestLog | None:
    """The request log lines go to, or None when nothing is logged (`--quiet`, or not `serve`)."""
    return _active


def flush() -> None:
    """Write out the lines not yet flushed (the server is stopping)."""
    if _active is not None:
        _active.flush()
