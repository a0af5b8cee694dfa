"""HS256 JSON Web Tokens: the bearer tokens the sandbox issues (Candid, MYCURE)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from billing_sandbox.signing import b64url, mac, same, unb64url

_HEADER = b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))


def encode(claims: Mapping[str, Any], key: bytes) -> str:
    """`header.payload.signature`, so clients can decode the payload (MYCURE's SDK reads `exp`)."""
    signing_input = f"{_HEADER}.{b64url(orjson.dumps(dict(claims)))}"
    return f"{signing_input}.{mac(key, signing_input)}"


def verified_claims(token: str, key: bytes) -> dict[str, Any] | None:
    """The claims of a token signed with `key`, or None for anything else (expiry not checked)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    if not same(mac(key, f"{parts[0]}.{parts[1]}"), parts[2]):
        return None
    try:
        claims = orjson.loads(unb64url(parts[1]))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return claims if isinstance(claims, dict) else None
