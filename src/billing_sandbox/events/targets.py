"""Which receiver URLs a sandbox may send events to (by default, only this machine's and a
private network's: a developer's receiver, a Compose service), and why a URL is refused."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Names a developer's receiver or a container network gives a host, besides IP literals.
_LOOPBACK_NAMES = ("localhost",)
_PRIVATE_NAMES = ("host.docker.internal", "host.containers.internal")

RULE = (
    "the sandbox sends webhooks only to http(s) URLs whose host is {allowed} "
    "(settings: webhook_hosts, BILLING_SANDBOX_WEBHOOK_HOSTS)"
)


def _describe(allowed: tuple[str, ...]) -> str:
    words = {
        "loopback": "loopback (127.0.0.0/8, ::1, localhost)",
        "private": "on a private network (10/8, 172.16/12, 192.168/16, fc00::/7, "
        "link-local, a one-label name such as a Compose service)",
        "any": "any host",
    }
    return " or ".join(words.get(entry, entry) for entry in allowed) or "none (no host allowed)"


def refusal(url: str, allowed: tuple[str, ...]) -> str | None:
    """Why `url` may not receive webhooks under `allowed` (entries: `loopback`, `private`,
    `any`, a host name or a network in CIDR form), or None when it may."""
    rule = RULE.format(allowed=_describe(allowed))
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError:
        return f"{url!r} is not a URL; {rule}"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL with a host; {rule}"
    if _allowed(host, allowed):
        return None
    return f"{url!r}: host {host!r} is not allowed; {rule}"


def _allowed(host: str, allowed: tuple[str, ...]) -> bool:
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in allowed:
        if entry == "any":
            return True
        if entry == "loopback":
            if address is not None and address.is_loopback:
                return True
            if address is None and (host in _LOOPBACK_NAMES or host.endswith(".localhost")):
                return True
        elif entry == "private":
            if address is not None and (address.is_private or address.is_link_local):
                return True
            if address is None and ("." not in host or host in _PRIVATE_NAMES):
                return True
        elif "/" in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if address is not None and address in network:
                return True
        elif host == entry.lower():
            return True
    return False
