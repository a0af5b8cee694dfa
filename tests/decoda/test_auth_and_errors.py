"""Decoda's headers, error shapes, and bad input that must never reach a 500 or change state."""

from __future__ import annotations

import httpx
import pytest

from tests.decoda.helpers import CHARGE, CREATE, PATIENT, assert_detail, charge, creds

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"TENANT": "acme"},
        {"API-KEY": "k"},
        {"TENANT": "", "API-KEY": "k"},
        {"TENANT": " ", "API-KEY": "k"},
    ],
)
async def test_missing_or_empty_credentials_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get(f"/billing/charge/get/{CHARGE}", headers=headers)
    assert_detail(response, 401, "header")


@pytest.mark.parametrize(
    ("headers", "missing"),
    [({"TENANT": "acme"}, "the API-KEY header"), ({}, "the TENANT and API-KEY headers")],
)
async def test_the_401_names_each_missing_header_in_the_right_number(
    client: httpx.AsyncClient, headers: dict[str, str], missing: str
) -> None:
    response = await client.get(f"/billing/charge/get/{CHARGE}", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": f"send {missing} with every request"}


async def test_header_names_are_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/billing/charge/get/{CHARGE}", headers={"tenant": "acme", "api-key": "k"}
    )
    assert response.status_code == 200


async def test_tenants_are_isolated_by_the_tenant_header(client: httpx.AsyncClient) -> None:
    made = await client.post(
        CREATE, json={"patientId": PATIENT, "totalOutstanding": 700}, headers=creds("acme")
    )
    new_id = made.json()["id"]
    assert (
        await client.get(f"/billing/charge/get/{new_id}", headers=creds("acme"))
    ).status_code == 200
    other = await client.get(f"/billing/charge/get/{new_id}", headers=creds("globex"))
    assert_detail(other, 404, new_id)


async def test_validation_errors_use_fastapi_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(CREATE, json={"totalOutstanding": "lots"}, headers=creds())
    detail = assert_detail(response, 422)
    by_loc = {tuple(d["loc"]): d for d in detail}
    assert by_loc[("body", "patientId")]["type"] == "missing"
    assert by_loc[("body", "patientId")]["msg"] == "Field required"
    assert by_loc[("body", "totalOutstanding")]["type"] == "int_type"


async def test_query_validation_names_the_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/charge/list", params={"n": "0"}, headers=creds())
    detail = assert_detail(response, 422)
    assert detail[0]["loc"] == ["query", "n"]


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b'{"patientId": ', "json_invalid"), (b"\xff\xfe", "json_invalid")],
)
async def test_malformed_json_is_422_and_changes_nothing(
    client: httpx.AsyncClient, content: bytes, kind: str
) -> None:
    before = await charge(client, CHARGE)
    response = await client.post(
        "/billing/adjustment/create",
        content=content,
        headers={**creds(), "Content-Type": "application/json"},
    )
    detail = assert_detail(response, 422)
    assert detail[0]["type"] == kind
    assert await charge(client, CHARGE) == before


async def test_wrong_content_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE, content=b"patientId=x", headers={**creds(), "Content-Type": "text/plain"}
    )
    assert_detail(response, 422)


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE,
        json={"patientId": PATIENT, "totalOutstanding": 300, "colour": "blue", "total": 999},
        headers=creds(),
    )
    assert response.status_code == 200
    assert response.json()["total"] == 300  # derived, not taken from the body


@pytest.mark.parametrize(
    "url",
    ["/billing/charge/get/nope", "/v1/charge/get/nope", "/user/patient/nope", "/v1/patient/nope"],
)
async def test_unknown_ids_are_404(client: httpx.AsyncClient, url: str) -> None:
    assert_detail(await client.get(url, headers=creds()), 404, "nope")


async def test_huge_numbers_in_free_form_meta_are_not_a_500(client: httpx.AsyncClient) -> None:
    body = {
        "patientId": PATIENT,
        "totalOutstanding": 100,
        "meta": {"n": 2180598426053012155977957376, "f": -1.7e308},
    }
    response = await client.post(CREATE, json=body, headers=creds())
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["f"] == -1.7e308


async def test_an_undeclared_method_is_fastapis_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete(CREATE, headers=creds())
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert response.headers["allow"] == "POST"
