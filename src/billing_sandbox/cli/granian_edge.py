"""The app's edge on granian: what the sandbox's uvicorn protocol and uvicorn's own settings do
at the connection, done in ASGI where granian (whose connections Python never sees) can be
reached.

- Each request's task is kept, so that the end of a shutdown's grace can cancel the requests
  still running (granian itself would wait for them however long they take), which
  `AnswerCutOffRequests` answers 503 as under uvicorn.
- A websocket message larger than the body cap closes its socket with 1009, as uvicorn's
  `ws_max_size` does (granian's own limit is 64 MiB a message), and at shutdown every open
  socket is closed with 1012, as uvicorn closes them (granian drops them without a close frame).
- A wire fault's answer, cut short in ASGI for want of the connection (faults/wire.py), stays
  cut without granian logging the `DropConnection` raised after it as a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_sandbox.faults.rules import DropConnection

# RFC 6455 close codes: the message was too big; the server is restarting (come back later).
TOO_BIG = 1009
RESTARTING = 1012


class GranianEdge:
    """`app` with the bounds and the shutdown above; `max_message_bytes` is the body cap."""

    def __init__(self, app: ASGIApp, max_message_bytes: int) -> None:
        self.app = app
        self.max_message_bytes = max_message_bytes
        # The tasks of the requests running (None for one run outside a task, which granian
        # never does: it makes each request a task of its own).
        self.requests: set[asyncio.Task[Any] | None] = set()
        self.sockets: set[Socket] = set()
        self.closing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        task = asyncio.current_task()
        self.requests.add(task)
        try:
            await self.app(scope, receive, send)
        except DropConnection:
            pass  # raised after the answer was cut short: for a client in this process to see
        finally:
            self.requests.discard(task)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket = Socket(receive, send, self.max_message_bytes)
        self.sockets.add(socket)
        try:
            await self.app(scope, socket.receive, send)
        except asyncio.CancelledError:
            # What granian does to a socket's pending receive as it drops the connection at
            # shutdown; the socket was told (1012) already, so it is no crash to log.
            if not self.closing:
                raise
        finally:
            self.sockets.discard(socket)

    async def close_sockets(self) -> None:
        """Close every open websocket with 1012, before granian drops them at shutdown."""
        self.closing = True
        for socket in list(self.sockets):
            await socket.close(RESTARTING)

    def cut_off(self) -> None:
        """Cancel the requests still running: the end of the shutdown's grace."""
        for task in list(self.requests):
            if task is not None:
                task.cancel()


class Socket:
    """One websocket's receive, holding each message to `max_bytes`."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self.max_bytes = max_bytes
        self.closed = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "websocket.receive" and _size(message) > self.max_bytes:
            await self.close(TOO_BIG)
            return {"type": "websocket.disconnect", "code": TOO_BIG}
        return message

    async def close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        # The app may have closed it itself, or the client gone: granian says so with a
        # RuntimeError, and there is nothing more to close.
        with contextlib.suppress(RuntimeError):
            await self._send({"type": "websocket.close", "code": code})


def _size(message: Message) -> int:
    """A message's size in bytes, as it came over the wire."""
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text: str = message.get("text") or ""
    return len(text.encode())
