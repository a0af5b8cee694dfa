"""One log line per vendor request: readable text or JSON, and never a secret."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from billing_sandbox.observe import requestlog
from tests.decoda.helpers import creds
from tests.support.processes import serving

pytestmark = pytest.mark.anyio
SECRET = "hunter2-never-logged"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the request logger writes, as `serve` configures it (text, no terminal)."""
    stream = io.StringIO()
    saved = requestlog.active()
    requestlog.configure(stream, "text", quiet=False)
    yield stream
    requestlog._active = saved


async def test_each_request_is_one_line_with_its_facts(
    client: httpx.AsyncClient, logged: io.StringIO
) -> None:
    await client.get("/billing/charge/list", headers=creds("acme"))
    await client.get("/_sandbox/health")  # the control API is not a vendor's: no line
    [line] = logged.getvalue().splitlines()
    assert line.split()[1:6] == ["GET", "/billing/charge/list", "200", "listCharges", "acme"]
    assert line.endswith(" ms")
    assert "\x1b[" not in line  # no colour on a stream that is not a terminal


async def test_faults_and_validation_failures_are_named_without_the_values_sent(
    client: httpx.AsyncClient, logged: io.StringIO
) -> None:
    await client.get("/billing/charge/list", headers={**creds("acme"), "Prefer": "code=500"})
    await client.post(
        "/authentication", json={"strategy": "local", "email": "a@b.test", "password": 12345}
    )
    faulted, invalid = logged.getvalue().splitlines()
    assert faulted.split()[3] == "500" and "[Prefer: code=500]" in faulted
    assert invalid.split()[3] == "400" and "— invalid password" in invalid  # Feathers' 400
    assert "12345" not in invalid


async def test_no_secret_reaches_the_log(client: httpx.AsyncClient, logged: io.StringIO) -> None:
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": "acme", "client_secret": SECRET}
    )
    bearer = token.json()["access_token"]
    await client.get(
        "/api/write-offs/v1", params={"limit": 1}, headers={"Authorization": f"Bearer {bearer}"}
    )
    await client.get("/billing/charge/list", headers={"TENANT": "acme", "API-KEY": SECRET})
    await client.get("/api/write-offs/v1", headers={"Authorization": f"Bearer {SECRET}"})
    text = logged.getvalue()
    assert len(text.splitlines()) == 4
    assert SECRET not in text and bearer not in text


async def test_json_lines_for_log_shippers(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    requestlog.configure(stream, "json", quiet=False)
    try:
        await client.get("/billing/charge/list", headers=creds("acme"))
    finally:
        requestlog.configure(io.StringIO(), "text", quiet=True)
    entry = json.loads(stream.getvalue())
    assert {key: entry[key] for key in ("method", "path", "status", "operationId", "tenant")} == {
        "method": "GET", "path": "/billing/charge/list", "status": 200,
        "operationId": "listCharges", "tenant": "acme",
    }  # fmt: skip
    assert entry["level"] == "info" and entry["durationMs"] >= 0 and "time" in entry


async def test_quiet_logs_nothing(client: httpx.AsyncClient) -> None:
    stream = io.StringIO()
    requestlog.configure(stream, "text", quiet=True)
    await client.get("/billing/charge/list", headers=creds("acme"))
    assert stream.getvalue() == ""
    assert requestlog.active() is None


def test_the_status_is_coloured_on_a_terminal() -> None:
    facts = ("GET", "/x", 404, "op", "decoda", None, 1.0, None, None)
    assert " \x1b[33m404\x1b[0m " in requestlog.TextLine(colour=True)(facts)
    assert " 404 " in requestlog.TextLine(colour=False)(facts)


async def test_a_batch_is_stamped_with_the_second_it_began(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The time is read once a batch (formatted once a second): every line of a batch shows
    the second its first line was written, and the next batch reads the clock again."""
    facts = ("GET", "/x", 200, "op", "decoda", "acme", 1.0, None, None)
    stream = CountedFlushes()
    log = requestlog.RequestLog(stream, requestlog.TextLine(colour=False), flush_after=0.01)
    noon = time.mktime((2026, 12, 3, 12, 0, 0, 0, 0, -1))
    monkeypatch.setattr(time, "time", lambda: noon + 0.99)
    log.write(facts)
    monkeypatch.setattr(time, "time", lambda: noon + 1.0)
    log.write(facts)  # the same batch: within the flush's fifth of a second
    await asyncio.sleep(0.05)
    log.write(facts)  # a new batch
    log.flush()
    assert [row.split()[0] for row in stream.getvalue().splitlines()] == [
        "12:00:00", "12:00:00", "12:00:01"
    ]  # fmt: skip


class CountedFlushes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


async def test_batched_lines_are_flushed_together_soon_after() -> None:
    stream = CountedFlushes()
    log = requestlog.RequestLog(stream, requestlog.TextLine(colour=False), flush_after=0.01)
    facts = ("GET", "/x", 200, "op", "decoda", "acme", 1.0, None, None)
    for _ in range(3):
        log.write(facts)
    assert stream.flushes == 0 and stream.getvalue() == ""  # gathered, not yet written
    await asyncio.sleep(0.05)  # the flush is a loop timer of 10 ms
    assert stream.flushes == 1 and len(stream.getvalue().splitlines()) == 3
    assert stream.getvalue().endswith(" ms\n")
    log.write(facts)
    await asyncio.sleep(0.05)
    assert stream.flushes == 2 and len(stream.getvalue().splitlines()) == 4


async def test_a_burst_is_written_out_without_waiting_for_the_flush() -> None:
    """What waits in memory is bounded: past `MAX_WAITING_LINES` the lines go to the stream."""
    stream = CountedFlushes()
    log = requestlog.RequestLog(stream, requestlog.TextLine(colour=False), flush_after=10)
    facts = ("GET", "/x", 200, "op", "decoda", "acme", 1.0, None, None)
    for _ in range(requestlog.MAX_WAITING_LINES):
        log.write(facts)
    assert len(stream.getvalue().splitlines()) == requestlog.MAX_WAITING_LINES
    log.write(facts)
    log.flush()
    assert len(stream.getvalue().splitlines()) == requestlog.MAX_WAITING_LINES + 1


def test_the_duration_shows_tenths_of_a_millisecond_rounded() -> None:
    line = requestlog.TextLine(colour=False)
    for duration, shown in (
        (0.04, "0.0 ms"),
        (0.05, "0.1 ms"),
        (3.14, "3.1 ms"),
        (12.96, "13.0 ms"),
        (99.94, "99.9 ms"),
        (99.95, "100.0 ms"),  # past the table of durations under 100 ms: formatted
        (12345.6, "12345.6 ms"),
    ):
        facts = ("GET", "/x", 200, "op", "decoda", "acme", duration, None, None)
        assert line(facts).endswith(f" acme {shown}")
    # Never measured so, but a negative duration is never read from the table's far end.
    for negative in (-1.0, -250.0):
        facts = ("GET", "/x", 200, "op", "decoda", "acme", negative, None, None)
        assert " acme -" in line(facts)


def test_outside_an_event_loop_each_line_is_flushed() -> None:
    stream = CountedFlushes()
    log = requestlog.RequestLog(stream, requestlog.TextLine(colour=False), flush_after=10)
    log.write(("GET", "/x", 200, "op", "decoda", "acme", 1.0, None, None))
    assert stream.flushes == 1


def test_serve_logs_a_line_per_request() -> None:
    with serving("--records", "20", quiet=False) as (base, server):
        httpx.get(f"{base}/billing/charge/list", headers=creds("cli-log"))
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert "GET /billing/charge/list 200 listCharges cli-log" in errors
