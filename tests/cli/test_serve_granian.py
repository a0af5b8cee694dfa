"""`billing-sandbox serve --server granian`: the same sandbox on granian, as a process on a
loopback port. Everything uvicorn's serving holds holds here too: the APIs, the request log, the
start scenarios, webhooks on a tenant's clock, MYCURE's Socket.IO, the control API's guard, the
shutdown's grace and the state file; the bounds on what a client sends, each mapped to
granian's own setting or kept at the app's edge; and the wire faults, which fall back to a
closed connection (granian hands Python no connection to reset)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import orjson
import pytest
import socketio_v4
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket

from billing_sandbox import cli
from billing_sandbox.cli import granian_server
from tests.mycure.helpers import ORG, create
from tests.support.processes import free_port
from tests.support.receiver import receiver

# Servers started as processes, three at once: a CI step of its own (`-m granian`), as the
# browser and cluster suites are, to keep the default suite within its five minutes.
pytestmark = pytest.mark.granian

DECODA = {"TENANT": "granian", "API-KEY": "k"}
# The shared server's bounds, small enough to reach in a test.
MAX_CONNECTIONS = 4
HEAD_TIMEOUT_SECONDS = 2
MAX_BODY_BYTES = 65_536
MAX_HEAD_BYTES = 16_384
# A start scenario of one step: a patient named Zia, in tenant `started`.
SCENARIO = {
    "scenario": 1,
    "name": "one-patient",
    "apis": ["decoda"],
    "steps": [{"name": "zia", "call": "POST /user/patient/create", "body": {"firstName": "Zia"}}],
}
SIGN_IN = {"strategy": "local", "email": f"ana@{ORG}", "password": "any"}
# Held by the fault injection longer than the shutdown's grace (the cap is 10 s).
SLOW_REQUEST = (
    b"GET /billing/charge/list HTTP/1.1\r\nHost: 127.0.0.1\r\nTENANT: granian\r\n"
    b"API-KEY: k\r\nPrefer: delay=8000\r\n\r\n"
)


@dataclass
class Launched:
    """A `serve --server granian` process, started but perhaps not yet answering."""

    base: str
    process: subprocess.Popen[str]
    log: Path  # its stderr (the request log), which no pipe can fill

    def up(self) -> str:
        """Its base URL, once it answers."""
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.base}/_sandbox/health")
                return self.base
            except httpx.ConnectError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=15)


def launch(log: Path, *args: str, port: int | None = None) -> Launched:
    """`serve ARGS` on granian (chosen by BILLING_SANDBOX_SERVER), on a free port."""
    port = free_port() if port is None else port
    command = [sys.executable, "-m", "billing_sandbox", "serve", *args, "--port", str(port)]
    environment = {
        **os.environ,
        "BILLING_SANDBOX_SERVER": "granian",
        "BILLING_SANDBOX_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    with log.open("w") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, env=environment
        )
    return Launched(f"http://127.0.0.1:{port}", process, log)


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Launched]]:
    """The servers of this module, started at once (each spends seconds reading its specs):
    one shared by most tests, one to stop with a signal, and one whose port is taken."""
    folder = tmp_path_factory.mktemp("granian")
    scenario = folder / "one-patient.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    servers: dict[str, Launched] = {}
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            servers["refused"] = launch(
                folder / "refused.txt", "--quiet", port=taken.getsockname()[1]
            )
            servers["shared"] = launch(
                folder / "shared.txt",
                "--records", "20",
                "--scenario", f"{scenario}@started",
                "--max-connections", str(MAX_CONNECTIONS),
                "--head-timeout", str(HEAD_TIMEOUT_SECONDS),
                "--max-head-bytes", str(MAX_HEAD_BYTES),
            )  # fmt: skip
            state = str(folder / "state.json")
            servers["stopped"] = launch(folder / "stopped.txt", "--state-file", state, "--quiet")
            # It cannot listen, and ends; the port stays taken until it has.
            servers["refused"].process.wait(timeout=30)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def base(launched: dict[str, Launched]) -> str:
    return launched["shared"].up()


@pytest.fixture(scope="module")
def log(launched: dict[str, Launched]) -> Path:
    return launched["shared"].log


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=5)


def ask(sock: socket.socket, path: str = "/_sandbox/health") -> bytes:
    """One request on a kept-alive connection; the head of its answer."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock.recv(65536).partition(b"\r\n")[0]


def test_each_api_answers_on_granian(base: str) -> None:
    assert httpx.get(f"{base}/_sandbox/health").json()["status"] == "ok"
    token = httpx.post(
        f"{base}/api/auth/v2/token", json={"client_id": "granian", "client_secret": "s"}
    ).json()["access_token"]
    page = httpx.get(f"{base}/api/write-offs/v1", headers={"Authorization": f"Bearer {token}"})
    assert len(page.json()["items"]) == 20
    charges = httpx.get(f"{base}/billing/charge/list", headers=DECODA)
    assert charges.status_code == 200 and charges.json()
    signed_in = httpx.post(f"{base}/authentication", json=SIGN_IN)
    mycure = {"Authorization": f"Bearer {signed_in.json()['accessToken']}"}
    assert httpx.get(f"{base}/billing-soas", headers=mycure).status_code == 200


def test_connections_past_the_cap_wait_for_a_free_one(base: str) -> None:
    """granian's bound instead of uvicorn's 503: a connection past `--max-connections` waits in
    the backlog, and is served as soon as another closes."""
    with ExitStack() as held:
        served = [held.enter_context(connect(base)) for _ in range(MAX_CONNECTIONS)]
        for sock in served:
            assert ask(sock) == b"HTTP/1.1 200 OK"
        waiting = held.enter_context(connect(base))
        waiting.settimeout(0.5)
        with pytest.raises(TimeoutError):
            ask(waiting)
        served[0].close()
        waiting.settimeout(1.0)  # well inside the head timeout of the connections held
        assert waiting.recv(65536).startswith(b"HTTP/1.1 200 OK")


def test_a_request_is_logged_in_one_line_on_stderr(base: str, log: Path) -> None:
    headers = {"TENANT": "logged", "API-KEY": "k"}
    assert httpx.get(f"{base}/billing/charge/list", headers=headers).status_code == 200
    lines = _logged(log, " logged ", 1)
    assert len(lines) == 1, log.read_text()
    assert " GET /billing/charge/list 200 listCharges logged " in lines[0]


def test_the_start_scenario_was_applied_before_it_listened(
    base: str, launched: dict[str, Launched]
) -> None:
    # The banner, printed once the scenarios are applied and before granian listens, says so.
    stdout = launched["shared"].process.stdout
    assert stdout is not None
    banner = list(iter(stdout.readline, "Press Ctrl+C to stop.\n"))
    applied = [line.strip() for line in banner if line.startswith("  scenario ")]
    assert applied == ["scenario   one-patient applied to tenant started (1 step)"]
    found = httpx.get(
        f"{base}/_sandbox/tenants/started/records/decoda", params={"kind": "patients", "q": "Zia"}
    ).json()
    assert found["total"] == 1, found


def test_a_webhook_is_retried_when_the_tenant_clock_reaches_it(base: str) -> None:
    tenant = {"TENANT": "hooked", "API-KEY": "k"}
    clock = f"{base}/_sandbox/tenants/hooked/clock"
    assert httpx.post(clock, json={"freezeAt": "2026-03-01T12:00:00+00:00"}).status_code == 200
    with receiver(statuses=(500,)) as hook:
        registered = httpx.post(
            f"{base}/webhook/decoda/create",
            json={"url": hook.url, "subscriptions": ["PATIENT_CREATED"]},
            headers=tenant,
        )
        assert registered.status_code == 200, registered.text
        made = httpx.post(f"{base}/user/patient/create", json={"firstName": "Ada"}, headers=tenant)
        assert made.status_code == 200, made.text
        hook.wait_for(1)  # answered 500: tried again 1 s later on the tenant's clock
        assert httpx.post(clock, json={"advanceSeconds": 1}).status_code == 200
        first, second = hook.wait_for(2)
    assert first.body == second.body
    assert orjson.loads(second.body)["data"]["id"] == made.json()["id"]


@pytest.mark.anyio
async def test_a_socket_signs_in_and_hears_a_created_statement(base: str) -> None:
    # The socket's HTTP session is ours to close: the library closes its own in a task of its
    # own, which the test's loop may end before, leaving it to warn when collected.
    async with (
        httpx.AsyncClient(base_url=base, timeout=5) as rest,
        aiohttp.ClientSession() as session,
    ):
        signed_in = await rest.post("/authentication", json=SIGN_IN)
        access = signed_in.json()["accessToken"]
        heard: asyncio.Queue[Any] = asyncio.Queue()
        client = socketio_v4.AsyncClient(reconnection=False, http_session=session)
        client.on("billing-soas created", heard.put)
        await client.connect(base, transports=["websocket"], socketio_v4_path="socket.io")
        try:
            acked = await client.call(
                "create", ("authentication", {"strategy": "jwt", "accessToken": access}), timeout=5
            )
            assert acked[0] is None, acked
            created = await create(rest, {"Authorization": f"Bearer {access}"}, note="live")
            assert await asyncio.wait_for(heard.get(), 2) == created
        finally:
            await client.disconnect()


def test_a_socket_on_the_polling_transport_signs_in(base: str) -> None:
    """Engine.IO 3's long polling, spoken by hand (`b64=1`: text payloads): the handshake, an
    event sent in a POST, and its ack in the next GET."""
    url = f"{base}/socket.io/?EIO=3&transport=polling&b64=1"
    with httpx.Client(timeout=5) as http:
        access = http.post(f"{base}/authentication", json=SIGN_IN).json()["accessToken"]
        opened = _packets(http.get(url).text)
        assert opened[0].startswith("0{")  # open, with the socket's id
        url += "&sid=" + orjson.loads(opened[0][1:])["sid"]
        jwt = {"strategy": "jwt", "accessToken": access}
        sign_in = orjson.dumps(["create", "authentication", jwt]).decode()
        event = "421" + sign_in  # a Socket.IO event (2) asking for ack 1
        assert http.post(url, content=f"{len(event)}:{event}").status_code == 200
        answered: list[str] = []
        while not any(packet.startswith("431") for packet in answered):
            answered += _packets(http.get(url).text)
    ack = next(packet for packet in answered if packet.startswith("431"))
    error, body = orjson.loads(ack[3:])
    assert error is None and body["accessToken"]


def _packets(payload: str) -> list[str]:
    """An Engine.IO 3 text payload's packets, each written `<length>:<packet>`."""
    packets = []
    while payload:
        length, _, payload = payload.partition(":")
        packets.append(payload[: int(length)])
        payload = payload[int(length) :]
    return packets


def test_the_control_api_refuses_a_host_that_names_another_machine(base: str) -> None:
    assert httpx.get(f"{base}/_sandbox/tenants").status_code == 200
    refused = httpx.get(f"{base}/_sandbox/tenants", headers={"Host": "sandbox.example.com"})
    assert refused.status_code == 403
    assert "sandbox.example.com" in refused.json()["message"]


def test_a_request_head_past_max_head_bytes_is_431(base: str) -> None:
    fits = httpx.get(f"{base}/_sandbox/health", headers={"X-Pad": "a" * (MAX_HEAD_BYTES // 2)})
    assert fits.status_code == 200
    past = httpx.get(f"{base}/_sandbox/health", headers={"X-Pad": "a" * MAX_HEAD_BYTES})
    assert past.status_code == 431


def test_a_connection_without_a_whole_head_is_closed_after_the_head_timeout(base: str) -> None:
    with connect(base) as dribbling:
        dribbling.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: 127")
        started = time.monotonic()
        assert dribbling.recv(65536) == b""  # closed by the server
        took = time.monotonic() - started
    assert HEAD_TIMEOUT_SECONDS - 0.5 < took < HEAD_TIMEOUT_SECONDS + 2


def test_a_websocket_message_past_the_body_cap_closes_the_socket_with_1009(base: str) -> None:
    url = base.replace("http", "ws", 1) + "/socket.io/?EIO=3&transport=websocket"
    with websocket(url, max_size=None) as sock:
        assert str(sock.recv(timeout=5)).startswith("0{")  # Engine.IO's open packet
        assert sock.recv(timeout=5) == "40"  # Socket.IO's: connected to `/`
        sock.send("2")  # a ping, under the cap
        assert sock.recv(timeout=5) == "3"
        sock.send("4" + "x" * MAX_BODY_BYTES)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                sock.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_wire_faults_fall_back_to_a_closed_connection_never_a_500(base: str, log: Path) -> None:
    tenant = {"TENANT": "faulted", "API-KEY": "k"}
    match = {"api": "decoda", "operationId": "listCharges", "tenant": "faulted"}
    for effect in ({"drop": True}, {"reset": True}, {"truncate": True}):
        rule = {"match": match, "effect": effect, "count": 1}
        assert httpx.post(f"{base}/_sandbox/faults", json=rule).status_code == 201
        # No RST can be sent through ASGI: a reset closes the connection as a drop does.
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{base}/billing/charge/list", headers=tenant)
        assert httpx.get(f"{base}/billing/charge/list", headers=tenant).status_code == 200
    journal = httpx.get(f"{base}/_sandbox/requests", params={"tenant": "faulted"}).json()
    # Newest first: a truncated answer was the sandbox's 200, cut; a drop and a reset, none.
    assert [entry["status"] for entry in journal["requests"]] == [200, 200, 200, 0, 200, 0]
    # Once the six calls' lines are in the log, so is anything granian logged of them.
    assert len(_logged(log, " faulted ", 6)) == 6
    assert "Traceback" not in log.read_text() and "DropConnection" not in log.read_text()


def test_a_signal_ends_it_within_the_grace_and_saves_the_state(
    launched: dict[str, Launched],
) -> None:
    stopped = launched["stopped"]
    base, server = stopped.up(), stopped.process
    with ExitStack() as held:
        made = httpx.post(f"{base}/user/patient/create", json={"firstName": "Kept"}, headers=DECODA)
        assert made.status_code == 200, made.text
        assert made.headers["server"] == "granian"  # BILLING_SANDBOX_SERVER chose it
        idle = held.enter_context(httpx.Client(base_url=base, timeout=5))
        assert idle.get("/_sandbox/health").status_code == 200
        url = base.replace("http", "ws", 1) + "/socket.io/?EIO=3&transport=websocket"
        sock = held.enter_context(websocket(url))
        assert str(sock.recv(timeout=5)).startswith("0{")
        slow = held.enter_context(connect(base))
        slow.settimeout(10)
        slow.sendall(SLOW_REQUEST)
        time.sleep(0.5)  # it reaches the handler and waits there

        signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                sock.recv(timeout=5)
        cut_off = _until_closed(slow)
        assert server.wait(timeout=6) == 0
        took = time.monotonic() - signalled

    assert took < 5.0
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    head, _, answer = cut_off.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), cut_off
    assert orjson.loads(answer)["error"] == "ShuttingDown"
    saved = orjson.loads((stopped.log.parent / "state.json").read_bytes())
    patients = saved["tenants"]["granian"]["apis"]["decoda"]["patients"]
    assert made.json()["id"] in {patient["id"] for patient in patients}
    errors = stopped.log.read_text()
    assert "Traceback" not in errors and "panicked" not in errors, errors


def test_a_port_in_use_exits_3_in_one_line(launched: dict[str, Launched]) -> None:
    refused = launched["refused"]
    assert refused.process.returncode == 3
    [line] = refused.log.read_text().splitlines()
    port = urlsplit(refused.base).port
    expected = f"cannot listen on 127.0.0.1:{port}: Address already in use (os error 98)"
    assert line == f"billing-sandbox: {expected}"


def test_without_granian_installed_it_exits_2_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name == "granian" else found(name)
    )
    assert cli.main(["serve", "--server", "granian"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"billing-sandbox: {granian_server.NOT_INSTALLED}"
    assert "billing-sandbox[granian]" in line


def test_a_head_buffer_granian_cannot_keep_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--server", "granian", "--max-head-bytes", "4096"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "--max-head-bytes" in line and "at least 8192" in line and "4096" in line


def _until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _logged(log: Path, holding: str, count: int) -> list[str]:
    """The request log's lines holding `holding`, once there are `count` (or 2 s have gone: a
    line is flushed a fifth of a second after it is written)."""
    deadline = time.monotonic() + 2
    while True:
        lines = [line for line in log.read_text().splitlines() if holding in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
