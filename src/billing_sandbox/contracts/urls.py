"""The URLs the contract commands are given (`--against`, `--spec`): which may be used, how one
is shown when it may not, and whether one names this machine.

A user name or password in a URL is refused rather than used: httpx would send it as Basic
auth to whatever answers there (and to every redirect's target), and the URL is echoed in the
reports. Credentials go by the flags and environment variables, which the reports mask."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MASK = "[masked]"
_HTTP = re.compile(r"https?://", re.IGNORECASE)
# A URL's scheme and `//`, then its user information: what comes before the last `@` of the
# authority (which runs to the first `/`, `?` or `#`, as `urllib.parse` reads it).
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_LOCALHOST_NAMES = frozenset({"localhost", "localhost."})


class CredentialsInUrl(ValueError):
    """A URL with a user name or password in it: `shown` is the URL masked, `reason` says
    what to do instead."""

    def __init__(self, url: str, advice: str) -> None:
        self.shown = masked(url)
        self.reason = (
            "a user name or password in the URL is not used (it would be sent to whatever "
            f"answers there, and shown in reports); {advice}"
        )
        super().__init__(f"{self.shown}: {self.reason}")


def is_http(source: str) -> bool:
    """Whether `source` is an http(s) URL (the scheme in any case) rather than a file path."""
    return _HTTP.match(source) is not None


def refuse_credentials(url: str, advice: str) -> None:
    """CredentialsInUrl when `url` carries a user name or password (either may be the
    secret: a token is often given as the user name)."""
    if _USERINFO.match(url) is not None:
        raise CredentialsInUrl(url, advice)


def masked(url: str) -> str:
    """`url` with its user name and password (if any) replaced by `[masked]`; read by the
    text alone, so that even a URL too broken to parse shows none of them."""
    return _USERINFO.sub(rf"\1{MASK}@", url, count=1)


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine's loopback: `localhost`, 127.0.0.0/8 or ::1 (also as
    an IPv4-mapped IPv6 address). Names are not resolved: a name that resolves to loopback is
    not taken for it, since what it resolves to can change under the run."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # a broken `[` address
        return False
    if host in _LOCALHOST_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
