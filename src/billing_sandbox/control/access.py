"""Who may call the control API: loopback clients, or any client with the control token."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.datastructures import Address
from starlette.requests import HTTPConnection

from billing_sandbox.cors import origin_allowed
from billing_sandbox.errors import Forbidden, Unauthenticated
from billing_sandbox.tenancy import Sandbox

# The dashboard keeps the control token in this cookie (HttpOnly, SameSite=Strict), entered
# once on its sign-in page, so that its script never holds the token.
CONTROL_COOKIE = "billing_sandbox_control"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> None:
    """Let the caller in, or raise: 401 for a missing or wrong token when one is configured,
    403 for a client that is not on this machine when none is, and 403 for a web page of an
    origin CORS does not allow (the sandbox's own dashboard is allowed)."""
    origin = connection.headers.get("origin")
    own_page = origin is not None and is_own_page(connection, origin, sandbox)
    if (
        origin is not None
        and not own_page
        and not origin_allowed(origin, sandbox.settings.cors_origins)
    ):
        # A page open in a local browser is a loopback client, and a simple POST (say, to
        # /_sandbox/reset) needs no preflight: only its Origin header tells it apart.
        raise Forbidden(f"control calls from pages of {origin} are refused (not a CORS origin)")
    expected = sandbox.settings.control_token
    if expected:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        if not given and CONTROL_COOKIE in connection.cookies:
            # A browser sends a cookie on its own: a change it carries must come from the
            # dashboard's own page (every browser sends `Origin` with a POST, PUT or DELETE).
            if connection.scope["method"] not in _SAFE_METHODS and not own_page:
                raise Forbidden("a change signed by the dashboard's cookie must come from its page")
            given = connection.cookies[CONTROL_COOKIE]
        if not given:
            raise Unauthenticated(
                "send 'Authorization: Bearer <token>' with the token the sandbox was started "
                "with (--control-token)"
            )
        if not token_matches(given, sandbox):
            raise Unauthenticated("the control token is wrong")
        return
    if not is_loopback(connection.client):
        raise Forbidden(
            "the control API answers clients on this machine only; start the sandbox with "
            "--control-token TOKEN to reach it from elsewhere"
        )


def token_matches(given: str, sandbox: Sandbox) -> bool:
    """Whether `given` is the control token (in constant time, so that it cannot be guessed a
    character at a time); False when none is configured."""
    expected = sandbox.settings.control_token
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_own_page(connection: HTTPConnection, origin: str, sandbox: Sandbox) -> bool:
    """Whether `origin` is the sandbox's own (its dashboard): the scheme and `Host` the request
    came to. Without a control token the host must also be a loopback name, or a page of any
    site whose name is made to point at 127.0.0.1 (DNS rebinding) would pass for our own."""
    host = connection.headers.get("host", "")
    if origin != f"{connection.url.scheme}://{host}":
        return False
    if sandbox.settings.control_token:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in _LOOPBACK_NAMES or name.startswith("127.")


def is_loopback(client: Address | None) -> bool:
    """127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address, as a dual-stack socket shows
    an IPv4 client). A client with no address (a Unix socket) or a name is not trusted."""
    if client is None:
        return False
    try:
        address = ipaddress.ip_address(client.host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
