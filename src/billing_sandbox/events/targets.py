"""Where webhooks may go: loopback and private addresses only, judged on the URL at registration
and on every address its host resolves to when a webhook is sent."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from billing_sandbox.settings import WEBHOOK_NETWORKS

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Every other address is refused, whatever `webhook_hosts` says: public ones, link-local (with
# the clouds' metadata service, 169.254.169.254), unspecified, multicast, broadcast, reserved,
# and the IPv6 forms that carry an IPv4 address to be routed elsewhere (6to4, Teredo, NAT64,
# IPv4-compatible). IPv4-mapped addresses are judged as the IPv4 address they are.
NETWORKS: dict[str, tuple[Network, ...]] = {
    keyword: tuple(ipaddress.ip_network(n) for n in networks)
    for keyword, networks in WEBHOOK_NETWORKS.items()
}
_REACHABLE = tuple(network for networks in NETWORKS.values() for network in networks)

# Names a developer's receiver or a container network gives a host, besides addresses.
_LOOPBACK_NAMES = ("localhost",)
_PRIVATE_NAMES = ("host.docker.internal", "host.containers.internal")

# A host name as a URL should carry it: ASCII letters, digits, `-` and `_` (Compose service
# names use it) in dot-separated labels. Anything else (percent-escapes, other scripts, a
# trailing dot) could be read differently by another parser, so it is refused, not guessed at.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A label a browser or the C resolver reads as a number (WHATWG's "ends in a number"): a host
# ending in one is an IPv4 address in some notation (`2130706433`, `0x7f.1`, `0177.0.0.1`).
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")

RULE = (
    "webhooks go only to http(s) URLs without credentials whose host, written canonically, is "
    "{allowed}, and whose every address is loopback or private: never public, link-local "
    "(cloud metadata), multicast, unspecified, or 6to4, Teredo or NAT64 "
    "(settings: webhook_hosts, BILLING_SANDBOX_WEBHOOK_HOSTS)"
)


def _describe(allowed: tuple[str, ...]) -> str:
    words = {
        "loopback": "loopback (127.0.0.0/8, ::1, localhost)",
        "private": "on a private network (10/8, 172.16/12, 192.168/16, fc00::/7, "
        "a one-label name such as a Compose service)",
    }
    return " or ".join(words.get(entry, entry) for entry in allowed) or "none (no host allowed)"


def rule(allowed: tuple[str, ...]) -> str:
    """The rule under `allowed`, as every refusal states it."""
    return RULE.format(allowed=_describe(allowed))


def refusal(url: str, allowed: tuple[str, ...]) -> str | None:
    """Why `url` may not be registered to receive webhooks under `allowed` (`webhook_hosts`
    entries: `loopback`, `private`, host names, networks in CIDR form), or None when it may.
    A name passes on its spelling alone; its addresses are judged each time it is sent to."""
    said = rule(allowed)
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 (raises ValueError on a port out of range)
    except ValueError:
        return f"{url!r} is not a URL; {said}"
    if parts.scheme not in ("http", "https") or not host or not _plain(url):
        return f"{url!r} is not an http(s) URL with a host; {said}"
    if "@" in parts.netloc:
        return f"{url!r} carries credentials (user:password@); {said}"
    address = _address(host)
    if address is not None and allows(host, address, allowed):
        return None
    if address is not None:
        return f"{url!r}: host {host!r} is not allowed; {said}"
    if _numeric(host):
        return (
            f"{url!r}: host {host!r} is a non-canonical numeric address (write an IPv4 "
            f"address as four decimal numbers, e.g. 127.0.0.1); {said}"
        )
    if len(host) > 253 or not _NAME.fullmatch(host):
        return f"{url!r}: host {host!r} is not a host name or an address; {said}"
    if _name_allowed(host, allowed):
        return None
    return f"{url!r}: host {host!r} is not allowed; {said}"


def checked(host: str, found: Iterable[str], allowed: tuple[str, ...]) -> list[Address] | None:
    """The addresses to connect to, in the resolver's order, when every address `host`
    resolved to is allowed; None when any is not (which one a connection would use is then
    the resolver's choice, not the rule's) or when there are none."""
    addresses: list[Address] = []
    for text in found:
        address = _address(text)
        if address is None or not allows(host, address, allowed):
            return None
        addresses.append(_unmapped(address))
    return list(dict.fromkeys(addresses)) or None


def refused_on_sending(host: str, allowed: tuple[str, ...]) -> str:
    """What a delivery records when `host` resolves to a refused address: the same words for
    every address and every kind of refusal, so deliveries cannot be used to map a network."""
    return f"not sent: {host!r} resolves to an address outside the rule; {rule(allowed)}"


def allows(host: str, address: Address, allowed: tuple[str, ...]) -> bool:
    """Whether `address` (written as `host` in the URL, or resolved from it) may be sent to."""
    address = _unmapped(address)
    if not _inside(address, _REACHABLE):
        return False
    for entry in allowed:
        if entry in NETWORKS:
            if _inside(address, NETWORKS[entry]):
                return True
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            # A host name: the user vouched for it; its addresses are still held to the above.
            if entry.lower() == host:
                return True
            continue
        if address in network:
            return True
    return False


def _address(host: str) -> Address | None:
    """The address `host` is, written canonically; None for a name or any other notation."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return None  # a zone (`fe80::1%eth0`) only makes sense for link-local addresses
    if isinstance(address, ipaddress.IPv4Address) and str(address) != host:
        return None
    return address


def _unmapped(address: Address) -> Address:
    # `::ffff:a.b.c.d` is how a dual-stack socket reaches the IPv4 address a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _inside(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def _numeric(host: str) -> bool:
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    return bool(_NUMBER.fullmatch(labels[-1]))


def _plain(url: str) -> bool:
    # Whitespace, controls and backslashes are read differently by different URL parsers.
    return all(" " < char != "\x7f" and char != "\\" for char in url)


def _name_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if entry == "loopback" and (host in _LOOPBACK_NAMES or host.endswith(".localhost")):
            return True
        if entry == "private" and ("." not in host or host in _PRIVATE_NAMES):
            return True
        if entry.lower() == host:
            return True
    return False
