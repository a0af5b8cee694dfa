"""CORS for browser apps: which origins may call the vendor APIs, with which headers and methods."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from billing_sandbox.asgi.headers import has_header

# Where a frontend under development runs: http or https on a loopback name, any port.
LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"

# Request headers a browser client may send: each vendor's credentials and content headers.
ALLOWED_HEADERS = (
    "Authorization",  # Candid and MYCURE bearer tokens, the control token
    "Content-Type",
    "TENANT",  # Decoda
    "API-KEY",  # Decoda
    "Prefer",
    "Environment",  # sent by @mycure/sdk-js when configured with one
    # Candid's Fern-generated SDKs name themselves on every request.
    "X-Fern-Language",
    "X-Fern-SDK-Name",
    "X-Fern-SDK-Version",
)

# Response headers a browser client may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = ("Allow",)

# An origin as a browser sends it: scheme, host, optional port; no path, not even a slash.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+", re.IGNORECASE)


class InvalidOrigin(ValueError):
    """A configured CORS origin that no browser could ever send."""


def check_origin(origin: str) -> str:
    """`*`, or an origin such as `https://app.example.test:3000`; anything else is refused."""
    if origin == "*" or _ORIGIN.fullmatch(origin):
        # Browsers send scheme and host in lower case, and the middleware compares exactly.
        return origin.lower()
    raise InvalidOrigin(
        f"{origin!r} is not an origin: use scheme://host[:port] with no path or trailing "
        "slash (e.g. http://localhost:3000), or * for any origin"
    )


def middleware(origins: Iterable[str], methods: Iterable[str]) -> Middleware:
    """Starlette's CORS middleware for `origins` (empty: any loopback origin), answering
    preflights for `methods`."""
    listed = tuple(check_origin(origin) for origin in origins)
    return Middleware(
        BrowserRequestsOnly,
        allow_origins=listed,
        allow_origin_regex=None if listed else LOOPBACK_ORIGINS,
        allow_methods=tuple(sorted(methods)),
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
    )


class BrowserRequestsOnly:
    """Starlette's CORS middleware, for requests that carry an `Origin` header (browsers).
    The others (curl, SDKs, server-side tests) need none of its work, and its wrapping of
    every response cost about a fifth of a by-id request. The one thing they lose is
    `Vary: Origin`, which matters only to a cache, and the sandbox's answers are not cached."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if from_browser(scope) and not is_control_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def from_browser(scope: Scope) -> bool:
    """Whether a request is a browser's: an HTTP request with an `Origin` header."""
    return scope["type"] == "http" and has_header(scope, b"origin")


def is_control_path(path: str) -> bool:
    """The control API and the dashboard: never opened to other origins by CORS, whatever
    `--cors-origin` says (no preflight is granted and no answer is made readable), so that a
    foreign page can neither read the sandbox's state nor reset it. The dashboard's own page
    is same-origin and needs no CORS."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


CONTROL_PREFIX = "/_sandbox"


def origin_allowed(origin: str, configured: Iterable[str]) -> bool:
    """Whether the CORS configuration lets a page from `origin` call the sandbox."""
    listed = tuple(check_origin(o) for o in configured)
    if not listed:
        return re.fullmatch(LOOPBACK_ORIGINS, origin, re.IGNORECASE) is not None
    return "*" in listed or origin.lower() in listed
