"""Faults below HTTP: answers that break off, reset, dribble or never come. They need the
connection itself, which ASGI does not expose, so the sandbox's uvicorn protocol puts it in
each request's scope; served any other way, each falls back to the nearest thing ASGI can do
(an answer that breaks off after its headers). The same protocol holds each request head to a
size and a time, which only the connection can see."""

from __future__ import annotations

import abc
import asyncio
import socket
import struct
from typing import cast

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from billing_sandbox.control.faults import DropConnection
from billing_sandbox.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Protocol
except ImportError:  # pragma: no cover - uvicorn without httptools (uvicorn[standard] has it)
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Protocol  # type: ignore[assignment]

# Where a request's scope holds its connection's transport.
TRANSPORT = "billing_sandbox.transport"
# How many pieces a dribbled body is sent in (fewer when the body is shorter).
DRIBBLE_PIECES = 10
# Whether the protocol's parser calls the hooks that see a head begin and end (httptools'
# does; h11's, the fallback, keeps heads to its own size limit and has no head timeout here).
_SEES_HEADS = _Protocol.__name__ == "HttpToolsProtocol"
# How long a refused connection stays open, its answer sent and what arrives thrown away, before
# it closes: closed at once, the rest of a head still arriving would make the kernel reset the
# connection, and the client lose the answer unread (nginx's "lingering close").
LINGER_SECONDS = 2


class ConnectionAwareProtocol(_Protocol):
    """uvicorn's HTTP protocol, handing each request its connection's transport, and holding
    each request head to `max_head_bytes` (431 past it) and `head_timeout_seconds` (closed
    past it; 408 when part of a head came). httptools itself bounds neither: a client could
    send one header until memory ran out, or a byte a minute and hold its connection."""

    # The settings' defaults; `limited` makes the protocol of a server with others.
    max_head_bytes = Settings.max_head_bytes
    head_timeout_seconds: float = Settings.head_timeout_seconds

    @classmethod
    def limited(
        cls, max_head_bytes: int, head_timeout_seconds: float
    ) -> type[ConnectionAwareProtocol]:
        """The protocol with these limits (uvicorn takes a class, and makes one a connection)."""
        limits = {"max_head_bytes": max_head_bytes, "head_timeout_seconds": head_timeout_seconds}
        return cast(type[ConnectionAwareProtocol], type(cls.__name__, (cls,), limits))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        app: ASGIApp = self.app

        async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
            scope[TRANSPORT] = transport
            await app(scope, receive, send)

        self.app = with_transport
        # Awaiting the first head: bytes of it so far, whether it has begun, its deadline.
        self._in_head = _SEES_HEADS
        self._head_bytes = 0
        self._head_begun = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        if self._in_head:
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # its answer is on its way and the connection closing: read nothing more
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still no whole head: refused as soon as it is over the cap, before it grows more.
        if self._in_head and not self._refused and self._head_bytes > self.max_head_bytes:
            self._refuse(431, f"the request head is over {self.max_head_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_begun = True
        if self._head_timer is None and not self._refused:  # a later request, kept alive
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._too_slow)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = self._head_begun = False
        self._head_bytes = 0
        self._stop_head_timer()
        # The whole head may have come at once: measured whole, as it will be handed on.
        # The head as it was sent: `METHOD url HTTP/1.1\r\n`, `name: value\r\n` each, `\r\n`.
        method = self.parser.get_method()
        size = len(method) + len(self.url) + 13
        size += sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:
            self._refuse(431, f"the request head is over {self.max_head_bytes} bytes")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:  # what follows a refused head is nobody's body
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        if not self._refused:
            super().handle_websocket_upgrade()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self._in_head or self._refused or self.transport.is_closing():
            return
        if self._head_begun:
            self._refuse(408, f"no whole request head came within {self.head_timeout_seconds} s")
        else:
            # Nothing sent at all (a browser's speculative connection, or a slowloris): no
            # answer to give, only the connection to close.
            self._refused = True
            self.transport.close()

    def _refuse(self, status: int, why: str) -> None:
        """Answer `status` in plain text, as uvicorn answers a request it cannot parse, and
        close: nothing more of this connection is read."""
        self._refused = True
        self._stop_head_timer()
        self.logger.warning("%s: %s; answered %d and closed", _peer(self.client), why, status)
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an earlier request's answer is under way: it is cut
            return
        message = f"{why}\n".encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, _REASONS[status], len(message), message)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _peer(client: tuple[str, int] | None) -> str:
    return "a client" if client is None else f"{client[0]}:{client[1]}"


async def _close(scope: Scope, reset: bool) -> bool:
    """Close the request's connection at once (with an RST when `reset`); False when the
    connection is out of reach."""
    transport: asyncio.Transport | None = scope.get(TRANSPORT)
    if transport is None:
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger on, for 0 s: closing sends an RST instead of a FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server see the connection go before the app returns, so it sends nothing more.
    await asyncio.sleep(0)
    return True


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


class WireResponse(Response, abc.ABC):
    """An answer that misbehaves on the wire; what the call set off afterwards (`background`,
    the courier's start) still runs, however the answer ends."""

    def __init__(self, status: int = 0) -> None:
        # 0: no status reached the client (the journal and the log say so).
        super().__init__(b"", status_code=status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.answer(scope, receive, send)
        finally:
            if self.background is not None:
                await self.background()

    @abc.abstractmethod
    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send (or withhold) the answer; each kind of misbehaviour says how."""


class DroppedResponse(WireResponse):
    """Headers that promise a body, then the connection closes: a crashed upstream."""

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _start(
            send, 200, [(b"content-length", b"64"), (b"content-type", b"application/json")]
        )
        if not await _close(scope, reset=False):
            raise DropConnection("connection dropped by a fault rule")


class ResetResponse(WireResponse):
    """The connection reset before a byte of the answer (an RST): a load balancer gone."""

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await _close(scope, reset=True):
            await DroppedResponse().answer(scope, receive, send)


class SilentResponse(WireResponse):
    """No answer at all: the connection stays open and silent for `hold_seconds`, then
    closes. A client with a shorter timeout sees its own timeout."""

    def __init__(self, hold_seconds: float) -> None:
        super().__init__()
        self.hold_seconds = hold_seconds

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(self.hold_seconds)
        if not await _close(scope, reset=False):
            await DroppedResponse().answer(scope, receive, send)


class TruncatedResponse(WireResponse):
    """The real answer's headers (its full `content-length`), half its body, then the
    connection closes."""

    def __init__(self, real: Response) -> None:
        super().__init__(real.status_code)
        self.real = real

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.real.body)
        await _start(send, self.real.status_code, self.real.raw_headers)
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        if not await _close(scope, reset=False):
            raise DropConnection("answer cut short by a fault rule")


class DribbledResponse(WireResponse):
    """The real answer, its body sent in pieces spread over `over_seconds`."""

    def __init__(self, real: Response, over_seconds: float) -> None:
        super().__init__(real.status_code)
        self.real = real
        self.over_seconds = over_seconds

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.real.body)
        pieces = max(1, min(DRIBBLE_PIECES, len(body)))
        size = -(-len(body) // pieces)  # ceiling division
        await _start(send, self.real.status_code, self.real.raw_headers)
        for index in range(pieces):
            await asyncio.sleep(self.over_seconds / pieces)
            piece = body[index * size : (index + 1) * size]
            last = index == pieces - 1
            await send({"type": "http.response.body", "body": piece, "more_body": not last})


def malformed(status: int) -> Response:
    """A success status whose body is not JSON, though it says it is: the error page of a
    proxy that answered in the service's place."""
    page = b"<html><body><h1>Temporarily unavailable</h1></body></html>"
    return Response(page, status_code=status, media_type="application/json")
