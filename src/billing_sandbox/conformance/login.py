"""Credentials for a conformance run, obtained the vendor's way and checked before it starts."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_SECONDS = 10
# Statuses that mean "these credentials are not accepted", as opposed to a broken server.
REFUSED = frozenset({401, 403})


class CannotRun(Exception):
    """The run cannot start: the server is unreachable or refuses the credentials (exit 2)."""


@dataclass(frozen=True)
class Credentials:
    """What the user gave for one API; secrets are never printed (`repr=False`)."""

    candid_client_id: str = ""
    candid_client_secret: str = field(default="", repr=False)
    candid_token: str = field(default="", repr=False)
    decoda_tenant: str = ""
    decoda_api_key: str = field(default="", repr=False)
    mycure_email: str = ""
    mycure_password: str = field(default="", repr=False)
    mycure_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class Auth:
    """Values for the spec's security schemes, and every secret to mask in what is printed."""

    schemes: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    description: str


def authenticate(api: str, base_url: str, credentials: Credentials) -> Auth:
    """Obtain a token if needed and prove the credentials work with one harmless call.

    Raises CannotRun naming what went wrong: no credentials, an unreachable server, or a
    refusal (401/403). Any other answer lets the run start: judging it is the run's job.
    """
    if api == "candid":
        return _candid(base_url, credentials)
    if api == "decoda":
        return _decoda(base_url, credentials)
    return _mycure(base_url, credentials)


def _candid(base_url: str, c: Credentials) -> Auth:
    secrets = tuple(s for s in (c.candid_client_secret, c.candid_token) if s)
    token = c.candid_token
    how = "a ready token"
    if not token:
        if not (c.candid_client_id and c.candid_client_secret):
            raise CannotRun(
                "Candid needs --candid-client-id and a client secret "
                "(BILLING_SANDBOX_CONFORMANCE_CANDID_CLIENT_SECRET), or a token "
                "(BILLING_SANDBOX_CONFORMANCE_CANDID_TOKEN)"
            )
        status, body = _call(
            base_url,
            "POST",
            "/api/auth/v2/token",
            body={"client_id": c.candid_client_id, "client_secret": c.candid_client_secret},
        )
        if status in REFUSED or not isinstance(body, dict) or "access_token" not in body:
            raise CannotRun(
                f"Candid refused client id {c.candid_client_id!r}: POST /api/auth/v2/token "
                f"answered {status} without an access_token"
            )
        token = str(body["access_token"])
        how = f"client id {c.candid_client_id!r} (token from /api/auth/v2/token)"
    headers = {"Authorization": f"Bearer {token}"}
    _check(base_url, "/api/write-offs/v1?limit=1", headers, "Candid", how)
    return Auth({"BearerAuth": token}, (*secrets, token), f"Candid as {how}")


def _decoda(base_url: str, c: Credentials) -> Auth:
    if not (c.decoda_tenant and c.decoda_api_key):
        raise CannotRun(
            "Decoda needs --decoda-tenant and an API key "
            "(BILLING_SANDBOX_CONFORMANCE_DECODA_API_KEY)"
        )
    headers = {"TENANT": c.decoda_tenant, "API-KEY": c.decoda_api_key}
    how = f"tenant {c.decoda_tenant!r}"
    # The smallest read Decoda has: one patient (the charge list is unpaginated, and on a
    # real tenant could be large).
    _check(base_url, "/v1/patient/list?n=1", headers, "Decoda", how)
    schemes = {"Tenant": c.decoda_tenant, "ApiKey": c.decoda_api_key}
    return Auth(schemes, (c.decoda_api_key,), f"Decoda as {how}")


def _mycure(base_url: str, c: Credentials) -> Auth:
    secrets = tuple(s for s in (c.mycure_password, c.mycure_token) if s)
    token = c.mycure_token
    how = "a ready token"
    if not token:
        if not (c.mycure_email and c.mycure_password):
            raise CannotRun(
                "MYCURE needs --mycure-email and a password "
                "(BILLING_SANDBOX_CONFORMANCE_MYCURE_PASSWORD), or a token "
                "(BILLING_SANDBOX_CONFORMANCE_MYCURE_TOKEN)"
            )
        status, body = _call(
            base_url,
            "POST",
            "/authentication",
            body={"strategy": "local", "email": c.mycure_email, "password": c.mycure_password},
        )
        if status in REFUSED or not isinstance(body, dict) or "accessToken" not in body:
            raise CannotRun(
                f"MYCURE refused {c.mycure_email!r}: POST /authentication answered {status} "
                "without an accessToken"
            )
        token = str(body["accessToken"])
        how = f"{c.mycure_email!r} (signed in through /authentication)"
    headers = {"Authorization": f"Bearer {token}"}
    _check(base_url, "/billing-soas?%24limit=1", headers, "MYCURE", how)
    return Auth({"BearerAuth": token}, (*secrets, token), f"MYCURE as {how}")


def _check(base_url: str, path: str, headers: Mapping[str, str], vendor: str, how: str) -> None:
    status, _ = _call(base_url, "GET", path, headers=headers)
    if status in REFUSED:
        raise CannotRun(f"{vendor} refused the credentials ({how}): GET {path} answered {status}")


def _call(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    """One request: its status and JSON body (None when not JSON). Network errors → CannotRun."""
    if not base_url.lower().startswith(("http://", "https://")):
        # urllib would also open file: and ftp: URLs; a server is only ever reached by HTTP.
        raise CannotRun(f"{base_url!r} is not an http(s) URL")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 (http(s) only: checked above)
        base_url.rstrip("/") + path, data=data, method=method, headers=dict(headers or {})
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CannotRun(f"cannot reach {base_url}: {reason}") from error
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None
