"""Requests to an ASGI app in process, as httpx's ASGITransport makes them, for a few microseconds.

A scenario sends thousands of requests: through `httpx.AsyncClient(transport=ASGITransport)`
each cost about 280 µs beside the app's own 100 (URL parsing and merging, the cookie jar, and a
failed `import sniffio` on every request), which made a 10,000-step scenario take 8 s instead of
2. The scope is the one ASGITransport builds: a loopback client (127.0.0.1), `Host: localhost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

import orjson
from starlette.types import ASGIApp, Message

_CLIENT = ("127.0.0.1", 123)
_SERVER = ("localhost", 80)
_HOST = (b"host", b"localhost")
# What a path keeps as it is: its separators, escapes already made, and RFC 3986's pchar.
_RAW_SAFE = "/%-._~!$&'()*+,;=:@"


@dataclass(frozen=True)
class Answer:
    """What the app answered: its status and body."""

    status: int
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class InProcess:
    """Calls `app` directly; an exception the app raises reaches the caller (as with
    ASGITransport's `raise_app_exceptions`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """`path` as it travels (percent-escaped); `query` the parameters, each once per value."""
        raw_headers = [_HOST]
        for name, value in (headers or {}).items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        body = content or b""
        if content is not None:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": quote(path, safe=_RAW_SAFE).encode("ascii"),
            "query_string": urlencode(query, quote_via=quote).encode("ascii") if query else b"",
            "root_path": "",
            "headers": raw_headers,
            "client": _CLIENT,
            "server": _SERVER,
            "extensions": {},
        }
        sent = False
        done = asyncio.Event()
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # As a client that keeps the connection open until the answer is in.
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        try:
            await self.app(scope, receive, send)
        finally:
            done.set()
        if not status:
            raise RuntimeError(f"{method} {path} was not answered")
        return Answer(status, b"".join(chunks))
