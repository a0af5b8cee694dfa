"""The connection-aware uvicorn protocol: it hands each request its connection's transport (the
wire faults need it, and ASGI does not expose it) and holds each request head to a size and a
time, which only the connection can see."""

from __future__ import annotations

import asyncio
from typing import cast

from starlette.types import ASGIApp, Receive, Scope, Send

from billing_sandbox.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Protocol
except ImportError:  # pragma: no cover - httptools is a dependency of ours
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Protocol  # type: ignore[assignment]

# Where a request's scope holds its connection's transport.
TRANSPORT = "billing_sandbox.transport"
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
        if not _SEES_HEADS:
            # h11's protocol calls no `on_message_begin`, where httptools' request scopes are
            # given their connection: its requests get it through the app instead.
            app: ASGIApp = self.app

            async def with_transport(scope: Scope, receive: Receive, send: Send) -> None:
                scope[TRANSPORT] = transport
                await app(scope, receive, send)

            self.app = with_transport
        # Awaiting the first head: bytes of it so far, whether it has begun, since when (the
        # first from the connection's start, each later one from its own first byte).
        self._in_head = _SEES_HEADS
        self._head_bytes = 0
        self._head_begun = False
        self._head_since = self.loop.time()
        self._heads_done = False
        self._refused = False
        # One timer a connection at most, never one a request: scheduling and cancelling a
        # timer for every head cost a by-id request about 4k instructions. When it fires, it
        # looks at the head under way then (`_too_slow`), and is set again only for one.
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
        # The request's scope, just made, carries its connection (set here, not by wrapping
        # the app: a wrapper was one more coroutine a request).
        self.scope[TRANSPORT] = self.transport  # type: ignore[literal-required]
        self._in_head = self._head_begun = True
        if self._heads_done:  # a later request, kept alive: its head's time starts now
            self._head_since = self.loop.time()
        if self._head_timer is None and not self._refused:  # a later request, kept alive
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._too_slow)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = self._head_begun = False
        self._heads_done = True
        self._head_bytes = 0
        # The timer is left to run out (see `connection_made`).
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
        left = self._head_since + self.head_timeout_seconds - self.loop.time()
        if left > 0:  # a later head, begun after the timer was set: its own time is not up
            self._head_timer = self.loop.call_later(left, self._too_slow)
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
