"""Candid bearer tokens: signed JWTs naming the client id (the tenant) and an expiry."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from starlette.datastructures import Headers

from billing_sandbox import jwt
from billing_sandbox.call import Caller
from billing_sandbox.errors import Unauthenticated
from billing_sandbox.settings import Settings
from billing_sandbox.tenancy import Sandbox


def issue(client_id: str, sandbox: Sandbox) -> dict[str, Any]:
    """The token response for a client: `{access_token, expires_in, token_type}`."""
    now = int(sandbox.clock.now().timestamp())
    ttl = sandbox.settings.token_ttl_seconds
    claims = {"sub": client_id, "iat": now, "exp": now + ttl, "iss": "billing-sandbox"}
    return {
        "access_token": _sign(claims, sandbox.settings),
        "expires_in": ttl,
        "token_type": "Bearer",
    }


def authenticate(headers: Headers, sandbox: Sandbox) -> Caller:
    """The client id behind a valid, unexpired bearer token; otherwise a 401."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "send 'Authorization: Bearer <access_token>'; get a token from POST /api/auth/v2/token"
        )
    client_id, expires = _verify(token.strip(), _key(sandbox.settings))
    if expires <= sandbox.clock.now().timestamp():
        raise Unauthenticated("the access token has expired; get a new one from /api/auth/v2/token")
    return Caller(client_id)


def _sign(claims: dict[str, Any], settings: Settings) -> str:
    return jwt.encode(claims, _key(settings))


# A pure function of its arguments, so memoising it changes nothing but speed: a client sends
# the same token on every call, and checking its signature each time was a third of the cost
# of a request. Failures raise and so are never cached.
@lru_cache(maxsize=4096)
def _verify(token: str, key: bytes) -> tuple[str, int]:
    """The (client id, expiry) a genuine token carries."""
    claims = jwt.verified_claims(token, key)
    if claims is None or not isinstance(claims.get("exp"), int) or "sub" not in claims:
        raise Unauthenticated("the access token is not one this sandbox issued")
    return str(claims["sub"]), claims["exp"]


@lru_cache(maxsize=16)
def _key(settings: Settings) -> bytes:
    return hashlib.sha256(f"{settings.secret}:candid-token".encode()).digest()
