"""MYCURE auth: `/authentication` (local sign-in, the jwt strategy, refreshing tokens), the JWT
access tokens (`uid`, `exp` in seconds) and refresh tokens it issues, and checking them."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from starlette.requests import HTTPConnection

from billing_sandbox.api import Caller
from billing_sandbox.apis.mycure.records import organisation_of
from billing_sandbox.apis.mycure.store import MycureStore
from billing_sandbox.asgi.headers import header
from billing_sandbox.credentials import LISTED, Section
from billing_sandbox.errors import Issue, Unauthenticated, ValidationFailed
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.signing import jwt_claims, jwt_encode
from billing_sandbox.state import changes
from billing_sandbox.tenants.identifiers import email_problem

# A `--credentials` file's `mycure:` entries: emails are case-insensitive, and one the
# sign-in schema's own pattern refuses could never sign in (a typo).
CREDENTIALS = Section(
    "email",
    "password",
    fold_case=True,
    pattern=re.compile(r"[^@\s]+@[^@\s]+"),
    pattern_hint="an email address",
)

# Refresh tokens outlive access tokens, as in MYCURE's SDK flow (refresh when `exp` passes).
REFRESH_TTL_SECONDS = 30 * 86_400
SIGN_IN = "get one from POST /authentication"
NAME = "mycure"


def sign_in(body: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
    """Tokens for the account the body names: by email (local), or by a token it holds."""
    # Dispatch on `strategy`, as the schema's oneOf does: a body with a strategy is a sign-in
    # even if it also carries `action` (the refresh branch forbids `strategy`).
    strategy = body.get("strategy")
    if strategy == "local":
        email = body["email"]
        # Its domain names the tenant: held to what an address may be before it names one
        # (the schema has checked its shape and length; this, its characters).
        problem = email_problem(email)
        if problem is not None:
            raise ValidationFailed([Issue("body", ("email",), f"the email {problem}")])
        organisation = tenant_of(email, sandbox, body["password"])
        if organisation is None:
            # Feathers' local strategy answers an unknown email and a wrong password alike.
            raise Unauthenticated("Invalid login")
    else:
        if strategy == "jwt":
            grant = check(body["accessToken"], "access", sandbox)
        else:  # no strategy: `{"action": "refreshAccessToken", "refreshToken"}`
            grant = check(body["refreshToken"], "refresh", sandbox)
        email, organisation = grant.email, grant.organisation
    # Signing in (again) makes sure the account exists: after a reset or a restart, a token
    # a browser kept still signs it back in, as it would in production.
    tenant = sandbox.tenant(organisation)
    store: MycureStore = tenant.store(NAME)
    if store.knows(email):
        account = store.sign_in(email)
    else:
        # A new account is a write (POST /authentication, or a socket's sign-in, names no
        # tenant for the wrapper): written ahead to the state's log, as a call would be.
        at = tenant.clock.now()
        sandbox.changes.append(
            changes.action(NAME, tenant.id, SIGN_IN_ACTION, {"email": email}, at)
        )
        with tenant.clock.pinned(at):
            account = store.sign_in(email)
        sandbox.mark_written(tenant.id)
    return issue(account.uid, account.email, organisation, sandbox)


# What the write-ahead log calls the making of an account.
SIGN_IN_ACTION = "sign_in"


def replay_action(store: MycureStore, name: str, arguments: Mapping[str, Any]) -> None:
    """Carry out a logged action again (`StoreKind.replay_action`)."""
    if name != SIGN_IN_ACTION:
        raise ValueError(f"MYCURE has no action {name!r}")
    store.sign_in(arguments["email"])


@dataclass(frozen=True)
class Grant:
    """What a genuine token says: whose it is, of which kind, until when."""

    uid: str
    email: str
    organisation: str
    kind: str  # access | refresh
    expires: int  # epoch seconds

    @cached_property
    def caller(self) -> Caller:
        """Who the grant names (made once per token: a grant is cached with its token)."""
        return Caller(self.organisation, self.uid)


def issue(uid: str, email: str, organisation: str, sandbox: Sandbox) -> dict[str, Any]:
    """The body MYCURE answers a sign-in with: `{uid, accessToken, refreshToken, expiresAt}`."""
    # The organisation's own clock, so that advancing it expires its tokens.
    now = int(sandbox.tenant(organisation).clock.now().timestamp())
    ttl = sandbox.settings.mycure_token_ttl_seconds
    key = _key(sandbox)
    claims = {"sub": uid, "uid": uid, "email": email, "org": organisation, "iat": now}
    return {
        "uid": uid,
        "accessToken": jwt_encode({**claims, "typ": "access", "exp": now + ttl}, key),
        "refreshToken": jwt_encode(
            {**claims, "typ": "refresh", "exp": now + REFRESH_TTL_SECONDS}, key
        ),
        "expiresAt": (now + ttl) * 1000,
    }


def authenticate(connection: HTTPConnection, sandbox: Sandbox) -> Caller:
    """The account behind `Authorization: Bearer <accessToken>`; its organisation is the tenant."""
    scheme, _, token = (header(connection.scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            f"Not authenticated: send 'Authorization: Bearer <accessToken>'; {SIGN_IN}"
        )
    grant = check(token.strip(), "access", sandbox)
    return grant.caller


def check(token: str, kind: str, sandbox: Sandbox, *, held_only: bool = False) -> Grant:
    """A token of `kind` that this sandbox signed and that has not expired; otherwise a 401.
    Its expiry is read on its organisation's clock; with `held_only`, only when this server
    holds the organisation, else on the machine's (a cluster's socket shard, which must not
    build a tenant that another shard owns)."""
    grant = _verify(token, _key(sandbox)) if isinstance(token, str) else None
    if grant is None or grant.kind != kind:
        raise Unauthenticated(f"invalid {kind} token: it is not one this sandbox issued; {SIGN_IN}")
    if held_only:
        held = sandbox.held(grant.organisation)
        now = held.clock.timestamp() if held is not None else time.time()
    else:
        now = sandbox.tenant(grant.organisation).clock.timestamp()
    if grant.expires <= now:
        raise Unauthenticated(f"jwt expired: the {kind} token has expired; {SIGN_IN}")
    # Tokens outlive restarts, so in strict mode one issued before (or before its account was
    # removed or moved) must not get in: its account must still be listed, for its organisation.
    if sandbox.credentials is not None and tenant_of(grant.email, sandbox) != grant.organisation:
        raise Unauthenticated(
            f"invalid {kind} token: its account is not {LISTED} (or now belongs to another "
            f"organisation); {SIGN_IN}"
        )
    return grant


def tenant_of(email: str, sandbox: Sandbox, password: str | None = None) -> str | None:
    """The organisation (tenant) of an account: its email's domain. In strict mode, the tenant
    its entry names (by default the same domain), or None when it is not listed or `password`
    is given and wrong."""
    if sandbox.credentials is None:
        return organisation_of(email)
    login = sandbox.credentials.find("mycure", email, password)
    if login is None:
        return None
    return login.tenant or organisation_of(email)


# Pure in its arguments, so memoising changes nothing but speed (a client sends the same token
# on every call). None results are cached too, which is as correct.
@lru_cache(maxsize=4096)
def _verify(token: str, key: bytes) -> Grant | None:
    claims = jwt_claims(token, key)
    if claims is None:
        return None
    try:
        return Grant(
            uid=str(claims["uid"]),
            email=str(claims["email"]),
            organisation=str(claims["org"]),
            kind=str(claims["typ"]),
            expires=int(claims["exp"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _key(sandbox: Sandbox) -> bytes:
    return _key_of(sandbox.signing_secret)


# By the secret alone: hashing it on every request cost more than the rest
# of the token check.
@lru_cache(maxsize=16)
def _key_of(secret: str) -> bytes:
    return hashlib.sha256(f"{secret}:mycure-token".encode()).digest()
