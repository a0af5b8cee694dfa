"""The token endpoint and bearer authentication on every write-off route."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from billing_sandbox.clock import ManualClock
from tests.candid.helpers import CURATED_WRITE_OFF, WRITE_OFFS, assert_candid_error, auth

pytestmark = pytest.mark.anyio
TOKEN = "/api/auth/v2/token"


async def test_token_from_json_body(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, json={"client_id": "acme", "client_secret": "s"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 18_000
    assert body["access_token"].count(".") == 2  # a JWT, as Candid issues


async def test_token_from_form_body(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, data={"client_id": "acme", "client_secret": "s"})
    assert response.status_code == 200
    token = response.json()["access_token"]
    listing = await client.get(WRITE_OFFS, headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200


async def test_empty_client_id_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, json={"client_id": "", "client_secret": "s"})
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert content[0]["fieldName"] == "client_id"


async def test_missing_client_secret_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN, json={"client_id": "acme"})
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert content == [{"fieldName": "client_secret", "humanReadableMessage": "Field required"}]


async def test_missing_body_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(TOKEN)
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert content[0]["fieldName"] == "body"


async def test_unsupported_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, content=b"client_id=acme", headers={"Content-Type": "text/plain"}
    )
    content = assert_candid_error(response, 415, "InvalidContentTypeError")
    assert "text/plain" in content["message"]


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, content=b'{"client_id": ', headers={"Content-Type": "application/json"}
    )
    content = assert_candid_error(response, 400, "BadRequestError")
    assert "not valid JSON" in content["message"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic YWNtZTpz",
        "Bearer not-a-token",
        "Bearer a.b.c",
        "Bearer é.é.é",
    ],
)
async def test_bad_credentials_get_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    # Encoded by hand: a non-ASCII header must reach the server, not stop in the client.
    headers = {} if authorization is None else {b"Authorization": authorization.encode("latin-1")}
    response = await client.get(WRITE_OFFS, headers=headers)
    content = assert_candid_error(response, 401, "UnauthorizedError")
    assert "token" in content["message"]


async def test_token_signed_by_another_server_is_unknown(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    header, payload, _ = headers["Authorization"].removeprefix("Bearer ").split(".")
    forged = f"Bearer {header}.{payload}.c2lnbmF0dXJl"
    response = await client.get(
        f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers={"Authorization": forged}
    )
    assert_candid_error(response, 401, "UnauthorizedError")


async def test_token_expires_after_five_hours(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await auth(client)
    clock.advance(timedelta(seconds=17_999))
    assert (await client.get(WRITE_OFFS, headers=headers)).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = await client.get(WRITE_OFFS, headers=headers)
    content = assert_candid_error(response, 401, "UnauthorizedError")
    assert "expired" in content["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", WRITE_OFFS),
        ("POST", WRITE_OFFS),
        ("GET", f"{WRITE_OFFS}/{CURATED_WRITE_OFF}"),
        ("POST", f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert"),
        ("POST", f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert-era-originated"),
    ],
)
async def test_every_write_off_route_requires_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"write_offs": []})
    assert_candid_error(response, 401, "UnauthorizedError")


async def test_an_undeclared_method_is_405_in_candids_envelope(client: httpx.AsyncClient) -> None:
    response = await client.put(WRITE_OFFS, headers=await auth(client))
    content = assert_candid_error(response, 405, "MethodNotAllowedError")
    assert "PUT" in content["message"]
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
