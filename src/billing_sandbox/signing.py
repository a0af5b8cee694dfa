"""Base64url and HMAC helpers shared by everything the sandbox signs (tokens, page cursors)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(key: bytes, text: str, size: int = 32) -> str:
    """The base64url HMAC-SHA256 of `text`, truncated to `size` bytes."""
    return b64url(hmac.new(key, text.encode(), hashlib.sha256).digest()[:size])


def same(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (it is just wrong)."""
    return hmac.compare_digest(expected.encode(), given.encode())
