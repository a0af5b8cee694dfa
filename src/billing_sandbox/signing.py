"""What the sandbox signs: HMAC helpers (page cursors) and the HS256 JSON Web Tokens built on them
(the bearer tokens of Candid and MYCURE)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(key: bytes, text: str, size: int = 32) -> str:
    """The base64url HMAC-SHA256 of `text`, truncated to `size` bytes."""
    return b64url(hmac.new(key, text.encode(), hashlib.sha256).digest()[:size])


def hmac_hex(key: bytes, raw: bytes) -> str:
    """The hex HMAC-SHA256 of raw bytes (webhook signatures: over the exact body sent)."""
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (it is just wrong)."""
    return hmac.compare_digest(expected.encode(), given.encode())


_HEADER = b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))


def jwt_encode(claims: Mapping[str, Any], key: bytes) -> str:
    """`header.payload.signature`, so clients can decode the payload (MYCURE's SDK reads `exp`)."""
    signing_input = f"{_HEADER}.{b64url(orjson.dumps(dict(claims)))}"
    return f"{signing_input}.{mac(key, signing_input)}"


def jwt_claims(token: str, key: bytes) -> dict[str, Any] | None:
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
