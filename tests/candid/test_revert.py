"""Reverting write-offs and insurance balance adjustments, each exactly once."""

from __future__ import annotations

import httpx
import pytest

from tests.candid.helpers import (
    ADJUSTMENT,
    CURATED_WRITE_OFF,
    ERA_ADJUSTMENT,
    PAYER,
    SERVICE_LINE,
    UNKNOWN,
    WRITE_OFFS,
    assert_candid_error,
    auth,
)

pytestmark = pytest.mark.anyio


async def revert(
    client: httpx.AsyncClient, some_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"{WRITE_OFFS}/{some_id}/revert", headers=headers)


async def test_revert_creates_a_negated_reversal(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    original = (await client.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=headers)).json()
    response = await revert(client, CURATED_WRITE_OFF, headers)
    assert response.status_code == 200
    reversal = response.json()
    assert reversal["type"] == original["type"]
    assert reversal["service_line_id"] == original["service_line_id"]
    assert reversal["amount_cents"] == -original["amount_cents"]
    assert reversal["reverts_write_off_id"] == CURATED_WRITE_OFF
    assert reversal["write_off_id"] != CURATED_WRITE_OFF
    assert reversal["write_off_timestamp"] == "2026-03-01T12:00:00Z"  # the sandbox clock
    after = (await client.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=headers)).json()
    assert after["reverted_by_write_off_id"] == reversal["write_off_id"]
    stored = (await client.get(f"{WRITE_OFFS}/{reversal['write_off_id']}", headers=headers)).json()
    assert stored == reversal


async def test_revert_keeps_the_variant_for_insurance(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    items = (await client.get(WRITE_OFFS, params={"limit": 999}, headers=headers)).json()["items"]
    original = next(
        i
        for i in items
        if i["type"] == "insurance"
        and "reverted_by_write_off_id" not in i
        and "reverts_write_off_id" not in i
    )
    reversal = (await revert(client, original["write_off_id"], headers)).json()
    assert reversal["payer"] == original["payer"]
    assert reversal["write_off_target"] == original["write_off_target"]


async def test_reverting_twice_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    first = (await revert(client, CURATED_WRITE_OFF, headers)).json()
    content = assert_candid_error(
        await revert(client, CURATED_WRITE_OFF, headers), 422, "UnprocessableEntityError"
    )
    assert first["write_off_id"] in content["message"]
    assert "already been reverted" in content["message"]


async def test_reverting_a_reversal_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    reversal = (await revert(client, CURATED_WRITE_OFF, headers)).json()
    content = assert_candid_error(
        await revert(client, reversal["write_off_id"], headers), 422, "UnprocessableEntityError"
    )
    assert "itself a reversal" in content["message"]


async def test_failed_revert_changes_nothing(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    await revert(client, CURATED_WRITE_OFF, headers)
    before = (await client.get(WRITE_OFFS, params={"limit": 999}, headers=headers)).json()
    await revert(client, CURATED_WRITE_OFF, headers)
    after = (await client.get(WRITE_OFFS, params={"limit": 999}, headers=headers)).json()
    assert after == before


async def test_revert_adjustment_returns_offsetting_write_off(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    response = await revert(client, ADJUSTMENT, headers)
    assert response.status_code == 200
    offset = response.json()
    assert offset["type"] == "insurance"
    assert offset["payer"]["payer_uuid"] == PAYER
    assert offset["write_off_target"] == {"type": "service_line_id", "value": SERVICE_LINE}
    assert offset["amount_cents"] == -1500
    fetched = await client.get(f"{WRITE_OFFS}/{offset['write_off_id']}", headers=headers)
    assert fetched.json() == offset
    reference = (await client.get("/_sandbox/tenants/acme/reference/candid")).json()
    [adjustment] = [
        a for a in reference["insurance_balance_adjustments"] if a["adjustment_id"] == ADJUSTMENT
    ]
    assert adjustment["reverted"] is True


async def test_revert_adjustment_twice_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    await revert(client, ADJUSTMENT, headers)
    assert_candid_error(await revert(client, ADJUSTMENT, headers), 422, "UnprocessableEntityError")


async def test_era_adjustment_on_plain_path_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    content = assert_candid_error(
        await revert(client, ERA_ADJUSTMENT, headers), 422, "UnprocessableEntityError"
    )
    assert "revert-era-originated" in content["message"]


async def test_revert_era_originated_returns_bare_id(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    path = f"{WRITE_OFFS}/{ERA_ADJUSTMENT}/revert-era-originated"
    response = await client.post(path, headers=headers)
    assert response.status_code == 200
    assert response.content == f'"{ERA_ADJUSTMENT}"'.encode()
    again = await client.post(path, headers=headers)
    content = assert_candid_error(again, 422, "UnprocessableEntityError")
    assert "already been reverted" in content["message"]


async def test_plain_adjustment_on_era_path_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    response = await client.post(
        f"{WRITE_OFFS}/{ADJUSTMENT}/revert-era-originated", headers=headers
    )
    content = assert_candid_error(response, 422, "UnprocessableEntityError")
    assert "did not originate from an ERA" in content["message"]


@pytest.mark.parametrize("suffix", ["", "/revert", "/revert-era-originated"])
async def test_unknown_id_is_404(client: httpx.AsyncClient, suffix: str) -> None:
    headers = await auth(client)
    method = "GET" if not suffix else "POST"
    response = await client.request(method, f"{WRITE_OFFS}/{UNKNOWN}{suffix}", headers=headers)
    assert assert_candid_error(response, 404, "EntityNotFoundError") == {"id": UNKNOWN}


@pytest.mark.parametrize("suffix", ["", "/revert", "/revert-era-originated"])
async def test_malformed_id_is_422(client: httpx.AsyncClient, suffix: str) -> None:
    headers = await auth(client)
    method = "GET" if not suffix else "POST"
    response = await client.request(method, f"{WRITE_OFFS}/not-a-uuid{suffix}", headers=headers)
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert content[0]["fieldName"] in {"write_off_id", "adjustment_id"}
