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


def test_a_line_is_stamped_with_its_own_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time is formatted once a second, and never outlives its second."""
    facts = ("GET", "/x", 200, "op", "decoda", "acme", 1.0, None, None)
    line = requestlog.TextLine(colour=False)
    noon = time.mktime((2026, 12, 3, 12, 0, 0, 0, 0, -1))
    monkeypatch.setattr(time, "time", lambda: noon + 0.9)
    assert line(facts).split()[0] == "12:00:00"
    monkeypatch.setattr(time, "time", lambda: noon + 1.0)
    assert line(facts).split()[0] == "12:00:01"


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
    assert stream.flushes == 0 and len(stream.getvalue().splitlines()) == 3
    await asyncio.sleep(0.05)  # the flush is a loop timer of 10 ms
    assert stream.flushes == 1
    log.write(facts)
    await asyncio.sleep(0.05)
    assert stream.flushes == 2


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
