"""Who may call the control API: loopback clients that name this machine, or the control token."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from starlette.datastructures import Address
from starlette.requests import HTTPConnection

from billing_sandbox.errors import Forbidden, Unauthenticated
from billing_sandbox.sandbox import Sandbox

# The dashboard keeps the control token in this cookie (HttpOnly, SameSite=Strict), entered
# once on its sign-in page, so that its script never holds the token.
CONTROL_COOKIE = "billing_sandbox_control"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The one name that always means this machine (RFC 6761 reserves it; browsers resolve it to
# loopback themselves). Loopback addresses count only as exact literals: see `names_this_machine`.
_LOCALHOST = "localhost"
_OPEN_IT = (
    "start the sandbox with --control-token TOKEN to reach it from elsewhere (or "
    "--allowed-host NAME for a name of your own that points at this machine)"
)


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> None:
    """Let the caller in, or raise: 401 for a missing or wrong token when one is configured;
    without one, 403 for a client that is not on this machine or whose `Host` does not name
    it. A web page (a request with `Origin`) gets in only from the sandbox's own pages: CORS
    opens the vendor APIs to browser apps, never the control API."""
    settings = sandbox.settings
    origin = connection.headers.get("origin")
    own_page = origin is not None and is_own_page(connection, origin, sandbox)
    if origin is not None and not own_page:
        # A page open in a local browser is a loopback client, and a simple POST (say, to
        # /_sandbox/reset) needs no preflight: only its Origin header tells it apart.
        raise Forbidden(
            f"control calls from pages of {origin} are refused: only the sandbox's own "
            "dashboard may call the control API from a browser (--cors-origin opens the "
            "vendor APIs, never /_sandbox)"
        )
    if settings.control_token:
        _check_token(connection, sandbox, own_page)
        return
    if not is_loopback(connection.client):
        raise Forbidden(f"the control API answers clients on this machine only; {_OPEN_IT}")
    host = connection.headers.get("host", "")
    if not names_this_machine(host, settings.allowed_hosts):
        # DNS rebinding: a page of any site whose name is made to resolve to 127.0.0.1 is a
        # loopback client too, but its requests carry its own name as `Host`.
        raise Forbidden(
            f"the control API answers only requests addressed to this machine by a loopback "
            f"address or localhost, not to Host {_shown(host)}; {_OPEN_IT}"
        )


def _check_token(connection: HTTPConnection, sandbox: Sandbox, own_page: bool) -> None:
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


def token_matches(given: str, sandbox: Sandbox) -> bool:
    """Whether `given` is the control token (in constant time, so that it cannot be guessed a
    character at a time); False when none is configured."""
    expected = sandbox.settings.control_token
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def is_own_page(connection: HTTPConnection, origin: str, sandbox: Sandbox) -> bool:
    """Whether `origin` is the sandbox's own (its dashboard): exactly the scheme and `Host`
    the request came to. Without a control token the host must also name this machine, or a
    page of any site whose name is made to point at 127.0.0.1 (DNS rebinding) would pass for
    our own."""
    host = connection.headers.get("host", "")
    if origin != f"{connection.url.scheme}://{host}":
        return False
    settings = sandbox.settings
    return bool(settings.control_token) or names_this_machine(host, settings.allowed_hosts)


def names_this_machine(host: str, allowed: Iterable[str] = ()) -> bool:
    """Whether a `Host` header (port aside) is `localhost`, a loopback address written exactly
    as an address is written (`127.0.0.1`, `[::1]`; not `127.0.0.1.evil.test`, not `0x7f.1`),
    or one of the `allowed` names (`--allowed-host`). Compared without case, as DNS does."""
    name = _without_port(host.strip().lower())
    if name == _LOCALHOST or name in {entry.lower() for entry in allowed}:
        return True
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        return False
    bracketed = literal != name
    # The canonical form only, and IPv6 only in brackets: anything else is some resolver's
    # reading of a name, not an address.
    if bracketed != (address.version == 6) or str(address) != literal:
        return False
    # Nor an IPv4-mapped one (`[::ffff:127.0.0.1]`), which Python 3.13 calls loopback and
    # 3.11 does not: refused on each.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return False
    return address.is_loopback


def _without_port(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        return host if end == -1 else host[: end + 1]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


def _shown(host: str) -> str:
    """A client's `Host` as a message may quote it: bounded, and never empty."""
    return repr(host[:80]) if host else "(none)"


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
