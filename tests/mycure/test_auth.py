"""MYCURE sign-in and bearer tokens: local and jwt strategies, refresh, expiry, accounts."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
import pytest

from billing_sandbox.clock import ManualClock
from tests.mycure.helpers import ORG, assert_feathers, bearer, sign_in

pytestmark = pytest.mark.anyio


def payload(token: str) -> dict[str, object]:
    """Decode a JWT's payload the way @mycure/sdk-js does (no signature check)."""
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def test_local_sign_in_returns_uid_tokens_and_expiry(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    creds = await sign_in(client)
    assert set(creds) == {"uid", "accessToken", "refreshToken", "expiresAt"}
    claims = payload(str(creds["accessToken"]))
    now = int(clock.now().timestamp())
    assert claims["uid"] == creds["uid"]
    assert claims["exp"] == now + 86_400  # seconds, as the SDK compares with Date.now() / 1000
    assert creds["expiresAt"] == (now + 86_400) * 1000


async def test_the_same_email_is_the_same_account(client: httpx.AsyncClient) -> None:
    first = await sign_in(client, f"Ana@{ORG}")
    again = await sign_in(client, f"ana@{ORG}")
    other = await sign_in(client, f"ben@{ORG}")
    assert first["uid"] == again["uid"] != other["uid"]


async def test_the_sdk_loads_the_account_after_signing_in(client: httpx.AsyncClient) -> None:
    # @mycure/sdk-js posts to `/authentication/` (it always adds the slash), then gets the account.
    response = await client.post(
        "/authentication/", json={"strategy": "local", "email": f"ana@{ORG}", "password": "p"}
    )
    creds = response.json()
    account = await client.get(
        f"/accounts/{creds['uid']}", headers={"Authorization": f"Bearer {creds['accessToken']}"}
    )
    assert account.status_code == 200
    assert account.json()["uid"] == creds["uid"]
    assert account.json()["email"] == f"ana@{ORG}"


async def test_accounts_of_another_organisation_are_not_found(client: httpx.AsyncClient) -> None:
    stranger = await sign_in(client, "cy@clinic-b.test")
    response = await client.get(f"/accounts/{stranger['uid']}", headers=await bearer(client))
    assert_feathers(response, 404, "NotFound", stranger["uid"])


async def test_jwt_strategy_reissues_from_a_valid_access_token(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    creds = await sign_in(client)
    clock.advance(timedelta(hours=1))
    response = await client.post(
        "/authentication", json={"strategy": "jwt", "accessToken": creds["accessToken"]}
    )
    assert response.status_code == 201
    assert response.json()["uid"] == creds["uid"]
    assert response.json()["expiresAt"] > creds["expiresAt"]


async def test_refresh_token_issues_a_fresh_pair(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    creds = await sign_in(client)
    clock.advance(timedelta(days=2))  # the access token has expired; the refresh token has not
    # The SDK sends a dummy bearer token with the refresh; it must not matter.
    response = await client.post(
        "/authentication",
        json={"action": "refreshAccessToken", "refreshToken": creds["refreshToken"]},
        headers={"Authorization": "Bearer fake"},
    )
    assert response.status_code == 201, response.text
    fresh = response.json()
    found = await client.get(
        "/billing-soas", headers={"Authorization": f"Bearer {fresh['accessToken']}"}
    )
    assert found.status_code == 200


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    creds = await sign_in(client)
    response = await client.post(
        "/authentication",
        json={"action": "refreshAccessToken", "refreshToken": creds["accessToken"]},
    )
    assert_feathers(response, 401, "NotAuthenticated", "invalid refresh token")


async def test_expired_access_token_is_401(client: httpx.AsyncClient, clock: ManualClock) -> None:
    headers = await bearer(client)
    clock.advance(timedelta(days=1, seconds=1))
    response = await client.get("/billing-soas", headers=headers)
    assert_feathers(response, 401, "NotAuthenticated", "jwt expired")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
    ],
    ids=["missing", "empty", "basic", "garbage", "forged"],
)
async def test_missing_or_bad_credentials_are_401_on_every_operation(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/billing-soas"),
        ("POST", "/billing-soas"),
        ("GET", "/billing-soas/5eb000000000000000005a01"),
        ("PATCH", "/billing-soas/5eb000000000000000005a01"),
        ("DELETE", "/billing-soas/5eb000000000000000005a01"),
        ("GET", "/accounts/anyone"),
    ]:
        response = await client.request(method, path, headers=headers, json={})
        assert_feathers(response, 401, "NotAuthenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "local", "email": "ana@clinic-a.test"}, "password"),
        ({"strategy": "local", "email": "no-domain", "password": "p"}, "email"),
        ({"strategy": "jwt"}, "accessToken"),
        ({"action": "refreshAccessToken"}, "refreshToken"),
        ({"strategy": "google", "email": "ana@clinic-a.test", "password": "p"}, "strategy"),
    ],
)
async def test_a_sign_in_body_that_cannot_work_is_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    response = await client.post("/authentication", json=body)
    error = assert_feathers(response, 400, "BadRequest", field)
    assert field in error["errors"]


async def test_a_forged_jwt_strategy_token_is_401(client: httpx.AsyncClient) -> None:
    creds = await sign_in(client)
    forged = str(creds["accessToken"])[:-2] + "xx"
    response = await client.post("/authentication", json={"strategy": "jwt", "accessToken": forged})
    assert_feathers(response, 401, "NotAuthenticated", "invalid access token")


async def test_a_sign_in_that_also_names_the_refresh_action_is_a_sign_in(
    client: httpx.AsyncClient,
) -> None:
    # The strategy decides, as the schema's union does (found by schemathesis: it was a 500).
    local = {"strategy": "local", "email": f"ana@{ORG}", "password": "p"}
    response = await client.post("/authentication", json={**local, "action": "refreshAccessToken"})
    assert response.status_code == 201
    jwt = {"strategy": "jwt", "accessToken": "x", "action": "refreshAccessToken"}
    response = await client.post("/authentication", json=jwt)
    assert_feathers(response, 401, "NotAuthenticated", "invalid access token")
