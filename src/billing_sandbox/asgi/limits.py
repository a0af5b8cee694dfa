"""Caps on request bodies outside the specs' routes (whose own wrapper reads bodies within the
same cap): checked on the declared length, then counted as the bytes arrive."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_sandbox.asgi.headers import header


class BodyTooLarge(Exception):
    """A request body over its cap; the message says which cap."""


def check_declared(scope: Scope, limit: int) -> None:
    """Refuse a body whose `Content-Length` is over `limit`, before a byte of it is read."""
    declared = (header(scope, b"content-length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body is {declared} bytes; at most {limit} are accepted here")


async def read_within(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """A whole body, refused as soon as more than `limit` bytes of it have arrived (the chunk
    that crosses the cap is dropped, never kept: a body costs at most `limit` bytes)."""
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > limit:
            raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
        body += chunk
    return bytes(body)


class BodyLimit:
    """An ASGI app whose HTTP request bodies may be `limit` bytes at most: a larger one is
    answered with `refusal(message)` (and the connection closed), by its `Content-Length`
    before a byte is read, or as its bytes arrive. The app gets the body whole, in one
    message: for apps that read whole bodies anyway (Engine.IO's) and never check their size
    first. WebSocket messages are the server's to cap (uvicorn's `ws_max_size`)."""

    def __init__(self, app: ASGIApp, limit: int, refusal: Callable[[str], Response]) -> None:
        self.app = app
        self.limit = limit
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_declared(scope, self.limit)
            body = await read_within(Request(scope, receive).stream(), self.limit)
        except BodyTooLarge as error:
            response = self.refusal(str(error))
            # The rest of the body is not wanted: closing spares reading it to reuse the line.
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        await self.app(scope, _replaying(body, receive), send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """`receive`, its first message the body already read; then the connection's own."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
