"""A webhook receiver on a free loopback port, in a background thread: it keeps every request
it gets (raw body and headers) and answers with the statuses it is told, in turn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    # Statuses to answer, one per request, then 200 for the rest.
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, request: Received) -> int:
        with self._lock:
            self.received.append(request)
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} deliveries arrived")
            time.sleep(0.01)
        with self._lock:
            return list(self.received)


@contextmanager
def receiver(statuses: tuple[int, ...] = ()) -> Iterator[Receiver]:
    """Serve a receiver until the block ends (at most a few seconds after it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        kept = Receiver(f"http://127.0.0.1:{port}/hooks", list(statuses))

        async def hook(request: Request) -> Response:
            body = await request.body()
            status = kept.take(Received(request.url.path, dict(request.headers), body))
            return Response(status_code=status)

        app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="receiver", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("the receiver did not start within 5 s")
                time.sleep(0.01)
            yield kept
        finally:
            server.should_exit = True
            thread.join(timeout=5)
