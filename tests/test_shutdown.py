"""Stopping `billing-sandbox serve`: SIGTERM or Ctrl+C ends it within 5 s whatever its clients
hold open (idle keep-alive connections, a request still being answered), and the state file is
written on the way out."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.support.processes import serving

DECODA = {"TENANT": "demo", "API-KEY": "k"}
PATIENT = "pat_sandbox_0001"
DEADLINE_SECONDS = 5.0
# Held by the sandbox's fault injection for longer than the deadline (the cap is 10 s).
SLOW_REQUEST = (
    b"GET /billing/charge/list HTTP/1.1\r\nHost: sandbox.test\r\nTENANT: demo\r\n"
    b"API-KEY: k\r\nPrefer: delay=8000\r\n\r\n"
)


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def receive_all(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (bounded by the socket's timeout)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_the_server_within_5_s_and_saves_the_state(
    tmp_path: Path, how: signal.Signals
) -> None:
    state_file = tmp_path / "state.json"
    with (
        serving("--records", "20", "--state-file", str(state_file)) as (base, server),
        ExitStack() as held,
    ):
        body = {"patientId": PATIENT, "totalOutstanding": 4321}
        made = httpx.post(
            f"{base}/billing/payment-terminal/charge/create", json=body, headers=DECODA
        )
        assert made.status_code == 200, made.text
        charge_id = made.json()["id"]
        # Idle keep-alive connections: clients that made a request and keep their connection,
        # and a socket that connected and never sent anything.
        for _ in range(3):
            client = held.enter_context(httpx.Client(base_url=base, timeout=10))
            assert client.get("/_sandbox/health").status_code == 200
        held.enter_context(connect(base))
        # A request in flight: the sandbox holds it 8 s before answering.
        slow = held.enter_context(connect(base))
        slow.sendall(SLOW_REQUEST)
        time.sleep(0.5)  # it reaches the handler and waits there

        signalled = time.monotonic()
        server.send_signal(how)
        try:
            _, err = server.communicate(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server was still running {DEADLINE_SECONDS} s after {how.name}")
        took = time.monotonic() - signalled
        cut_off = receive_all(slow)

    assert took < DEADLINE_SECONDS
    assert "Traceback" not in err, err
    # The held request was cut off by the shutdown, and told so (not a bare 500).
    head, _, answer = cut_off.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), cut_off
    assert b"connection: close" in head.lower()
    assert orjson.loads(answer)["error"] == "ShuttingDown"
    saved = orjson.loads(state_file.read_bytes())
    charges = saved["tenants"]["demo"]["apis"]["decoda"]["charges"]
    assert charge_id in {charge["id"] for charge in charges}


def test_an_open_dashboard_stream_does_not_hold_the_shutdown(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with serving("--records", "20", "--state-file", str(state_file)) as (base, server):
        made = httpx.post(
            f"{base}/billing/payment-terminal/charge/create",
            json={"patientId": PATIENT, "totalOutstanding": 99},
            headers=DECODA,
        )
        assert made.status_code == 200, made.text
        stream = connect(base)
        # The dashboard's live request list, asked to last far past the deadline.
        stream.sendall(
            b"GET /_sandbox/requests/stream?after=0&seconds=300 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        first = stream.recv(65536)
        assert b"text/event-stream" in first.lower() or b"200" in first.split(b"\r\n")[0]
        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            _, err = server.communicate(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail("the server was still running 5 s after SIGTERM with a stream open")
        took = time.monotonic() - signalled
        rest = receive_all(stream)
        stream.close()
    assert took < 2.8, took  # the stream ended by itself, not at the 3 s grace period's end
    assert "Traceback" not in err, err
    streamed = first + rest
    assert b"event: request" in streamed and made.json()["id"].encode() in streamed
    saved = orjson.loads(state_file.read_bytes())
    assert made.json()["id"] in {
        c["id"] for c in saved["tenants"]["demo"]["apis"]["decoda"]["charges"]
    }
