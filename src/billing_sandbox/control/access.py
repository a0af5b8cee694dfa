"""Who may call the control API: loopback clients, or any client with the control token."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.datastructures import Address
from starlette.requests import HTTPConnection

from billing_sandbox.cors import origin_allowed
from billing_sandbox.errors import Forbidden, Unauthenticated
from billing_sandbox.tenancy import Sandbox


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> None:
    """Let the caller in, or raise: 401 for a missing or wrong token when one is configured,
    403 for a client that is not on this machine when none is, and 403 for a web page of an
    origin CORS does not allow."""
    origin = connection.headers.get("origin")
    if origin is not None and not origin_allowed(origin, sandbox.settings.cors_origins):
        # A page open in a local browser is a loopback client, and a simple POST (say, to
        # /_sandbox/reset) needs no preflight: only its Origin header tells it apart.
        raise Forbidden(f"control calls from pages of {origin} are refused (not a CORS origin)")
    expected = sandbox.settings.control_token
    if expected:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "send 'Authorization: Bearer <token>' with the token the sandbox was started "
                "with (--control-token)"
            )
        # Constant time, so the token cannot be guessed a character at a time.
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise Unauthenticated("the control token is wrong")
        return
    if not is_loopback(connection.client):
        raise Forbidden(
            "the control API answers clients on this machine only; start the sandbox with "
            "--control-token TOKEN to reach it from elsewhere"
        )


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
