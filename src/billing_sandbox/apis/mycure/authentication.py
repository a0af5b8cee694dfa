"""MYCURE's `/authentication`: local sign-in, the jwt strategy, and refreshing tokens."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.mycure import tokens
from billing_sandbox.apis.mycure.store import MycureStore
from billing_sandbox.errors import Unauthenticated
from billing_sandbox.tenancy import Sandbox


def authenticate(body: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
    """Tokens for the account the body names: by email (local), or by a token it holds."""
    # Dispatch on `strategy`, as the schema's oneOf does: a body with a strategy is a sign-in
    # even if it also carries `action` (the refresh branch forbids `strategy`).
    strategy = body.get("strategy")
    if strategy == "local":
        email = body["email"]
        organisation = tokens.organisation(email, sandbox, body["password"])
        if organisation is None:
            # Feathers' local strategy answers an unknown email and a wrong password alike.
            raise Unauthenticated("Invalid login")
    else:
        if strategy == "jwt":
            grant = tokens.check(body["accessToken"], "access", sandbox)
        else:  # no strategy: `{"action": "refreshAccessToken", "refreshToken"}`
            grant = tokens.check(body["refreshToken"], "refresh", sandbox)
        email, organisation = grant.email, grant.organisation
    # Signing in (again) makes sure the account exists: after a reset or a restart, a token
    # a browser kept still signs it back in, as it would in production.
    store: MycureStore = sandbox.tenant(organisation).store("mycure")
    account = store.sign_in(email)
    return tokens.issue(account.uid, account.email, organisation, sandbox)
