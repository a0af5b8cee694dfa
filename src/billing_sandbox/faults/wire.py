"""Faults below HTTP: answers that break off, reset, dribble or never come. They need the
connection itself, which ASGI does not expose, so the sandbox's uvicorn protocol
(`asgi/protocol.py`) puts it in each request's scope; served any other way (granian, or in
process), each falls back to the nearest thing ASGI can do: an answer that ends short of its
`content-length`, which the server cuts (`_cut_short`); a reset is then a plain close."""

from __future__ import annotations

import abc
import asyncio
import socket
import struct

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from billing_sandbox.asgi.protocol import TRANSPORT
from billing_sandbox.faults.rules import DropConnection

# How many pieces a dribbled body is sent in (fewer when the body is shorter).
DRIBBLE_PIECES = 10


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


async def _cut_short(send: Send) -> None:
    """Without the connection, end the answer short of the `content-length` it promised: the
    most ASGI can do. A server that holds an answer to its length closes the connection
    unfinished (granian: before any byte when no body was sent, so the client gets no answer;
    after the half of a truncated one). The empty piece that says more follows comes first
    because granian sends an answer whose first piece is its last with that piece's length (a
    whole, empty 200). The caller then raises DropConnection, for a client in this process
    (httpx's ASGITransport) to see the cut; granian's edge (cli/granian_edge.py) keeps it out
    of granian's log."""
    await send({"type": "http.response.body", "body": b"", "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


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
            await _cut_short(send)
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
            await _cut_short(send)
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


class MalformedResponse(Response):
    """A success status whose body is not JSON, though it says it is (see `malformed`)."""


def malformed(status: int) -> Response:
    """A success status whose body is not JSON, though it says it is: the error page of a
    proxy that answered in the service's place."""
    page = b"<html><body><h1>Temporarily unavailable</h1></body></html>"
    return MalformedResponse(page, status_code=status, media_type="application/json")


# The answers a client never gets whole, or never gets as JSON, whatever their status says.
BROKEN_ANSWERS = (
    DroppedResponse,
    ResetResponse,
    SilentResponse,
    TruncatedResponse,
    MalformedResponse,
)


def breaks_the_answer(response: Response) -> bool:
    """Whether a fault left the client without a whole, well-formed answer (a dribbled one
    arrives whole, only slowly)."""
    return isinstance(response, BROKEN_ANSWERS)
