"""Credentials for a conformance run, obtained the vendor's way and checked before it starts."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

TIMEOUT_SECONDS = 10
# A sign-in answers a token, a check one record: past this, something else is answering.
MAX_ANSWER_BYTES = 256 * 1024
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
    """One request: its status and JSON body (None when not JSON). Network errors, a redirect
    (credentials never follow one to another place), an answer past `MAX_ANSWER_BYTES` or not
    whole within `TIMEOUT_SECONDS` → CannotRun."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CannotRun(f"{base_url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise CannotRun(
            f"{_without_userinfo(parts)} carries a user name or password in the URL: give "
            "credentials by the flags and environment variables instead"
        )
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        with (
            httpx.Client(follow_redirects=False, timeout=TIMEOUT_SECONDS) as client,
            client.stream(
                method, base_url.rstrip("/") + path, headers=dict(headers or {}), json=body
            ) as response,
        ):
            if response.is_redirect:
                where = response.headers.get("location", "elsewhere")
                raise CannotRun(
                    f"{method} {path} answered {response.status_code} to {where}: credentials "
                    "are not sent on to another address; give the address it names instead"
                )
            raw = _bounded(response, deadline)
            status = response.status_code
    except httpx.HTTPError as error:
        raise CannotRun(f"cannot reach {base_url}: {error}") from error
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def _bounded(response: httpx.Response, deadline: float) -> bytes:
    """The answer's body, read no further than `MAX_ANSWER_BYTES` nor past `deadline` (a
    server dripping bytes resets each read's timeout, not this)."""
    kept = bytearray()
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) > MAX_ANSWER_BYTES:
            raise CannotRun(
                f"{response.request.method} {response.request.url.path} answered more than "
                f"{MAX_ANSWER_BYTES // 1024} KiB: not a sign-in or a one-record read"
            )
        if time.monotonic() > deadline:
            raise CannotRun(
                f"{response.request.method} {response.request.url.path} gave no whole answer "
                f"within {TIMEOUT_SECONDS} s"
            )
    return bytes(kept)


def _without_userinfo(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
