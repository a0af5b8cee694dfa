"""The write-ahead log benchmark's calls: the three writes, two roads to send them (HTTP to a
served sandbox, ASGI in process) and `serve` started as users start it, stopped by its PID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from loadgen import HOST, BenchError, build_request, read_response
from servers import _wait_until_listening

JSON = "application/json"
WRITES_TENANT = "bench-wal"
STOP_TIMEOUT = 600.0  # seconds a server may take to save its state and exit

# Sends one request, by whichever road: (method, path, headers, body) -> (status, body).
Answer = tuple[int, bytes]
Send = Callable[[str, str, dict[str, str], bytes], Awaitable[Answer]]


@dataclass(frozen=True)
class Write:
    """One write request, sent unchanged: each call adds a record to its tenant."""

    name: str
    path: str
    headers: dict[str, str]
    body: bytes
    expected: int = 200

    def request(self, port: int) -> bytes:
        return build_request("POST", self.path, port, self.headers, self.body)


async def call_json(send: Send, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    """A call's JSON answer; a `BenchError` for anything but a 2xx."""
    data = b"" if body is None else orjson.dumps(body)
    extra = {} if body is None else {"Content-Type": JSON}
    status, answer = await send(method, path, {**headers, **extra}, data)
    if not 200 <= status < 300:
        raise BenchError(f"{method} {path}: expected a 2xx, got {status}: {answer[:300]!r}")
    return orjson.loads(answer)


async def writes_for(send: Send, tenant: str) -> list[Write]:
    """Sign in to each API as `tenant` and build its three writes."""
    token = await call_json(
        send, "POST", "/api/auth/v2/token", {}, {"client_id": tenant, "client_secret": "x"}
    )
    login = {"strategy": "local", "email": f"ana@{tenant}.test", "password": "x"}
    signed = await call_json(send, "POST", "/authentication", {}, login)
    facts = f"/_sandbox/tenants/{tenant}.test/reference/mycure"
    reference = await call_json(send, "GET", facts, {}, None)
    candid = {"Authorization": f"Bearer {token['access_token']}", "Content-Type": JSON}
    decoda = {"TENANT": tenant, "API-KEY": "bench", "Content-Type": JSON}
    mycure = {"Authorization": f"Bearer {signed['accessToken']}", "Content-Type": JSON}
    write_off = {
        "type": "patient",
        "write_off_timestamp": "2024-01-15T09:30:00Z",
        "write_off_reason": "SMALL_BALANCE",
        "service_line_id": "5e1f0000-0000-4000-8000-000000000001",
        "amount_cents": 1,
    }
    patient = {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}
    statement = {
        "facility": reference["facilities"][0]["id"],
        "type": "organization",
        "customer": reference["customers"]["organizations"][0]["id"],
    }
    return [
        Write("Decoda patient (/v1/patient/create)", "/v1/patient/create", decoda,
              orjson.dumps(patient)),
        Write("Candid write-off (/api/write-offs/v1)", "/api/write-offs/v1", candid,
              orjson.dumps({"write_offs": [write_off]})),
        Write("MYCURE statement (/billing-soas)", "/billing-soas", mycure,
              orjson.dumps(statement), expected=201),
    ]  # fmt: skip


def http_send(port: int) -> Send:
    """Requests to a served sandbox, one fresh connection each."""

    async def send(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(build_request(method, path, port, headers, body))
            return await read_response(reader)
        finally:
            writer.close()

    return send


def asgi_send(app: Any) -> Send:
    """Requests to the app in this process, as raw ASGI calls (no sockets, no client)."""

    async def send(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "headers": raw,
                 "client": (HOST, 50000), "server": (HOST, 8000), "state": {}}  # fmt: skip
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def reply(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            else:
                answer["body"] += message.get("body", b"")

        await app(scope, receive, reply)
        return answer["status"], answer["body"]

    return send


def serve_command(port: int, state_file: Path | None, fsync: str | None) -> list[str]:
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--quiet", "--port", str(port)]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
    if fsync is not None:
        command += ["--fsync", fsync]
    return command


def stop(child: subprocess.Popen[bytes]) -> float:
    """SIGTERM to the server's PID, then wait (it saves its state); seconds it took."""
    started = time.perf_counter()
    if child.poll() is None:
        os.kill(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            raise BenchError(f"server {child.pid} did not stop within {STOP_TIMEOUT} s") from None
    return time.perf_counter() - started


@contextmanager
def served(command: list[str], port: int, cpus: set[int] | None, log: IO[bytes]) -> Iterator[int]:
    """A `serve` subprocess listening on `port` for the block; its PID."""
    child = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        if cpus is not None:
            os.sched_setaffinity(child.pid, cpus)
        _wait_until_listening(child, port)
        yield child.pid
    finally:
        stop(child)
