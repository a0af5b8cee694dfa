"""A test-only Decoda server that has drifted from our spec in three known ways.

It is the sandbox itself with a wrapper that rewrites three operations' answers after the
sandbox has served (and validated) them, so everything else conforms and the conformance
command must name exactly these operations:

- getPatientV1 (`GET /v1/patient/{id}`) renames the required `firstName` to `first_name`;
- listCharges (`GET /billing/charge/list`) drops the required `totalOutstanding` of each charge;
- listPatientsV1 (`GET /v1/patient/list`) answers 203, a status the spec does not declare.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings

DRIFTS = {
    "getPatientV1": "response_schema_conformance",
    "listCharges": "response_schema_conformance",
    "listPatientsV1": "status_code_conformance",
}
LABELS = {
    "getPatientV1": "GET /v1/patient/{patient_id}",
    "listCharges": "GET /billing/charge/list",
    "listPatientsV1": "GET /v1/patient/list",
}


def _rename_first_name(body: Any) -> Any:
    if isinstance(body, dict) and "firstName" in body:
        body["first_name"] = body.pop("firstName")
    return body


def _drop_total_outstanding(body: Any) -> Any:
    for charge in body if isinstance(body, list) else []:
        charge.pop("totalOutstanding", None)
    return body


# (path pattern, new status or None, body rewrite)
REWRITES: tuple[tuple[re.Pattern[str], int | None, Callable[[Any], Any]], ...] = (
    (re.compile(r"/v1/patient/list"), 203, lambda body: body),
    (re.compile(r"/v1/patient/[^/]+"), None, _rename_first_name),
    (re.compile(r"/billing/charge/list"), None, _drop_total_outstanding),
)


class Drift:
    """ASGI wrapper: rewrites the 200 answers of the drifted GET operations."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rewrite = None
        if scope["type"] == "http" and scope["method"] == "GET":
            rewrite = next((r for r in REWRITES if r[0].fullmatch(scope["path"])), None)
        if rewrite is None:
            await self.app(scope, receive, send)
            return
        _, status, change = rewrite
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                body = json.dumps(change(json.loads(body))).encode()
                start["status"] = status or 200
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, buffer)


@contextmanager
def serve_drifted() -> Iterator[str]:
    """Serve the drifted server on a free loopback port until the block ends; yields its URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Drift(create_app(Settings(port=port)))
        server = uvicorn.Server(
            uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "drifted server died"
                time.sleep(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
