"""Candid bearer tokens: signed JWTs naming the tenant, the client id and an expiry."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from starlette.requests import HTTPConnection

from billing_sandbox.api import Caller
from billing_sandbox.asgi.headers import header
from billing_sandbox.credentials import LISTED, Section
from billing_sandbox.errors import Unauthenticated
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.signing import jwt_claims, jwt_encode
from billing_sandbox.tenants.identifiers import id_problem

# A `--credentials` file's `candid:` entries.
CREDENTIALS = Section("client_id", "client_secret")


def issue(client_id: str, client_secret: str, sandbox: Sandbox) -> dict[str, Any]:
    """The token response for a client: `{access_token, expires_in, token_type}`.

    Any client id and secret get one, and the client id is the tenant; in strict mode only a
    listed pair does, and the tenant is the one its entry maps it to.
    """
    # The client id names the tenant: held to what an id may be before it names anything.
    problem = id_problem(client_id)
    if problem is not None:
        raise Unauthenticated(f"invalid client credentials: the client_id {problem}")
    tenant = client_id
    if sandbox.credentials is not None:
        login = sandbox.credentials.find("candid", client_id, client_secret)
        if login is None:
            raise Unauthenticated(
                f"invalid client credentials: this client_id and client_secret are not {LISTED}"
            )
        tenant = login.tenant or client_id
    # The tenant's own clock, so that advancing it expires its tokens (as real time would).
    now = int(sandbox.tenant(tenant).clock.now().timestamp())
    ttl = sandbox.settings.token_ttl_seconds
    claims = {
        "sub": tenant,
        "cid": client_id,
        "iat": now,
        "exp": now + ttl,
        "iss": "billing-sandbox",
    }
    return {
        "access_token": _sign(claims, sandbox),
        "expires_in": ttl,
        "token_type": "Bearer",
    }


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> Caller:
    """The tenant behind a valid, unexpired bearer token; otherwise a 401."""
    scheme, _, token = (header(connection.scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "send 'Authorization: Bearer <access_token>'; get a token from POST /api/auth/v2/token"
        )
    caller, client_id, expires = _verify(token.strip(), _key(sandbox))
    tenant = caller.tenant_id
    if expires <= sandbox.tenant(tenant).clock.timestamp():
        raise Unauthenticated("the access token has expired; get a new one from /api/auth/v2/token")
    if sandbox.credentials is not None:
        # Tokens outlive restarts, so one issued before strict mode (or before its client was
        # removed or remapped) must not get in: its client must still be listed, for its tenant.
        login = sandbox.credentials.find("candid", client_id)
        if login is None or (login.tenant or client_id) != tenant:
            raise Unauthenticated(
                f"the access token's client is not {LISTED} (or now maps to another tenant); "
                "get a new one from /api/auth/v2/token"
            )
    return caller


def _sign(claims: dict[str, Any], sandbox: Sandbox) -> str:
    return jwt_encode(claims, _key(sandbox))


# A pure function of its arguments, so memoising it changes nothing but speed: a client sends
# the same token on every call, and checking its signature each time was a third of the cost
# of a request. Failures raise and so are never cached.
@lru_cache(maxsize=4096)
def _verify(token: str, key: bytes) -> tuple[Caller, str, int]:
    """The (caller, client id, expiry) a genuine token carries (the caller is immutable, so
    one is shared by every request with the token)."""
    claims = jwt_claims(token, key)
    if claims is None or not isinstance(claims.get("exp"), int) or "sub" not in claims:
        raise Unauthenticated("the access token is not one this sandbox issued")
    # Tokens from before the client id was a claim of its own named only the client (= tenant).
    return Caller(str(claims["sub"])), str(claims.get("cid", claims["sub"])), claims["exp"]


def _key(sandbox: Sandbox) -> bytes:
    return _key_of(sandbox.signing_secret)


# By the secret alone: hashing it on every request cost more than the rest
# of the token check.
@lru_cache(maxsize=16)
def _key_of(secret: str) -> bytes:
    return hashlib.sha256(f"{secret}:candid-token".encode()).digest()
