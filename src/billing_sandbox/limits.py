"""Caps on what a client sizes itself: request bodies outside the specs' routes, and the ids a
client names its own tenant by."""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_sandbox.headers import header

# A client id or a TENANT value is the name of a tenant, kept for as long as the tenant lives:
# in memory, URLs, log lines and spill files. Real ones are short (a uuid is 36 characters);
# 128 leaves room for a test's own prefix and still costs nothing to keep.
MAX_ID_CHARS = 128
# Printable ASCII without spaces: what such ids are made of, and nothing that could forge a
# log line or a terminal's colours (control characters) or look like another id (look-alike
# letters from other scripts, invisible characters).
_ID = re.compile(r"[!-~]+")
# RFC 5321's limit on an address, which MYCURE's spec also sets.
MAX_EMAIL_CHARS = 254
# What an email may not hold, as the spec's pattern says it too: whitespace, control
# characters (they forge log lines and terminal colours), and the invisible and
# direction-changing ones (zero-width, bidirectional overrides) that make one name look like
# another.
UNSEEN_IN_EMAIL = r"\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_EMAIL_CHARACTER_REFUSED = re.compile(f"[{UNSEEN_IN_EMAIL}]")


class BodyTooLarge(Exception):
    """A request body over its cap; the message says which cap."""


def id_problem(value: str) -> str | None:
    """Why `value` cannot name a tenant, or None when it can."""
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters long; the sandbox accepts at most {MAX_ID_CHARS}"
    if not _ID.fullmatch(value):
        return "may hold only printable ASCII characters, without spaces"
    return None


def email_problem(value: str) -> str | None:
    """Why `value` cannot be an account's email (whose domain names a tenant), or None.
    Letters of any script are fine (an internationalised domain); control and invisible
    formatting characters are not."""
    if len(value) > MAX_EMAIL_CHARS:
        return f"is {len(value)} characters long; the sandbox accepts at most {MAX_EMAIL_CHARS}"
    if _EMAIL_CHARACTER_REFUSED.search(value):
        return "may hold no whitespace, control, invisible or direction-changing characters"
    return None


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
