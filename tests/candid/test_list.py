"""Listing write-offs: limits, filters, sorting, and keyset pagination with opaque tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.candid.helpers import (
    CLAIM,
    PATIENT,
    PAYER,
    SERVICE_LINE,
    WRITE_OFFS,
    assert_candid_error,
    auth,
    insurance_item,
    patient_item,
    walk,
)

pytestmark = pytest.mark.anyio


async def get(client: httpx.AsyncClient, **params: Any) -> httpx.Response:
    return await client.get(WRITE_OFFS, params=params, headers=await auth(client))


async def test_default_page_is_100_newest_first(client: httpx.AsyncClient) -> None:
    page = (await get(client)).json()
    assert len(page["items"]) == 100
    stamps = [item["write_off_timestamp"] for item in page["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert "next_page_token" in page
    assert "prev_page_token" not in page


@pytest.mark.parametrize("limit", ["0", "1000", "-1", "ten", "1.5"])
async def test_limit_outside_1_to_999_is_422(client: httpx.AsyncClient, limit: str) -> None:
    content = assert_candid_error(
        await get(client, limit=limit), 422, "HttpRequestValidationsError"
    )
    assert content[0]["fieldName"] == "limit"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort", "amount"),
        ("sort_direction", "up"),
        ("account_types", "PAYER"),
        ("claim_id", "not-a-uuid"),
        ("payer_uuid", "1234"),
    ],
)
async def test_bad_query_values_name_the_parameter(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    content = assert_candid_error(
        await get(client, **{name: value}), 422, "HttpRequestValidationsError"
    )
    assert content[0]["fieldName"].startswith(name)


async def test_walking_all_pages_yields_every_record_once(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    items = await walk(client, headers, limit=7)
    ids = [item["write_off_id"] for item in items]
    assert len(ids) == len(set(ids)) == 200  # the default --records


@pytest.mark.parametrize("field", ["amount_cents", "write_off_timestamp", "write_off_note"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_sort_is_total_with_id_tie_break(
    client: httpx.AsyncClient, field: str, direction: str
) -> None:
    headers = await auth(client)
    items = await walk(client, headers, limit=33, sort=field, sort_direction=direction)

    def key(item: dict[str, Any]) -> tuple[Any, str]:
        value = item.get(field) or ""
        if field == "amount_cents":
            value = item[field]
        return (value, item["write_off_id"])

    assert [key(i) for i in items] == sorted(map(key, items), reverse=direction == "desc")
    assert len(items) == 200


async def test_notes_sort_ties_by_id(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    items = await walk(client, headers, limit=999, sort="write_off_note", sort_direction="asc")
    same_note = [
        i["write_off_id"] for i in items if i.get("write_off_note") == items[-1]["write_off_note"]
    ]
    assert len(same_note) > 1  # the seed repeats notes, so ties really occur
    assert same_note == sorted(same_note)


async def test_filters_combine_with_and(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    made = await client.post(
        WRITE_OFFS, json={"write_offs": [patient_item(), insurance_item()]}, headers=headers
    )
    insurance_id = made.json()["write_offs"][1]["write_off_id"]
    on_line = await walk(client, headers, service_line_id=SERVICE_LINE)
    assert {"patient", "insurance"} <= {i["type"] for i in on_line}
    insured = await walk(client, headers, service_line_id=SERVICE_LINE, payer_uuid=PAYER)
    assert insurance_id in {i["write_off_id"] for i in insured}
    assert {i["type"] for i in insured} == {"insurance"}
    assert {i["payer"]["payer_uuid"] for i in insured} == {PAYER}


@pytest.mark.parametrize(
    ("name", "value"),
    [("claim_id", CLAIM), ("patient_external_id", PATIENT), ("service_line_id", SERVICE_LINE)],
)
async def test_each_id_filter_matches_only_its_records(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    headers = await auth(client)
    matched = await walk(client, headers, **{name: value})
    assert matched, "the curated write-off sits on these fixtures"
    for item in matched:
        if item["type"] == "patient":
            assert item[name] == value


async def test_billing_provider_and_payer_filters(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    everything = await walk(client, headers, limit=999)
    insured = [i for i in everything if i["type"] == "insurance"]
    payer = insured[0]["payer"]["payer_uuid"]
    by_payer = await walk(client, headers, payer_uuid=payer)
    expected = {i["write_off_id"] for i in insured if i["payer"]["payer_uuid"] == payer}
    assert {i["write_off_id"] for i in by_payer} == expected
    provider_targets = [
        i for i in insured if i["write_off_target"]["type"] == "billing_provider_id"
    ]
    provider = provider_targets[0]["write_off_target"]["value"]
    by_provider = {
        i["write_off_id"] for i in await walk(client, headers, billing_provider_id=provider)
    }
    assert provider_targets[0]["write_off_id"] in by_provider


async def test_account_types_are_repeated_keys(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    url = f"{WRITE_OFFS}?limit=999&account_types=PATIENT&account_types=THIRD_PARTY_PAYER"
    items = (await client.get(url, headers=headers)).json()["items"]
    assert {i["type"] for i in items} == {"patient", "non_insurance_payer"}
    only = await client.get(f"{WRITE_OFFS}?limit=999&account_types=INSURANCE", headers=headers)
    assert {i["type"] for i in only.json()["items"]} == {"insurance"}


async def test_last_page_has_no_next_token(client: httpx.AsyncClient) -> None:
    page = (await get(client, limit=999)).json()
    assert len(page["items"]) == 200
    assert "next_page_token" not in page
    assert "prev_page_token" not in page


async def test_prev_token_returns_the_previous_page(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    first = (await client.get(WRITE_OFFS, params={"limit": 10}, headers=headers)).json()
    second = (
        await client.get(
            WRITE_OFFS,
            params={"limit": 10, "page_token": first["next_page_token"]},
            headers=headers,
        )
    ).json()
    back = (
        await client.get(
            WRITE_OFFS,
            params={"limit": 10, "page_token": second["prev_page_token"]},
            headers=headers,
        )
    ).json()
    assert back["items"] == first["items"]
    assert "prev_page_token" not in back
    assert back["next_page_token"]


async def test_created_mid_walk_never_repeats_or_skips(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 25, "sort": "amount_cents", "sort_direction": "asc"}
    created: list[str] = []
    amounts = iter([1, 150_000, 249_999, 100, 5_000, 60_000, 2, 200_000, 3, 4])
    while True:
        page = (await client.get(WRITE_OFFS, params=params, headers=headers)).json()
        seen.extend(item["write_off_id"] for item in page["items"])
        made = await client.post(
            WRITE_OFFS,
            json={"write_offs": [patient_item(amount_cents=next(amounts))]},
            headers=headers,
        )
        created.append(made.json()["write_offs"][0]["write_off_id"])
        if "next_page_token" not in page:
            break
        params["page_token"] = page["next_page_token"]
    assert len(seen) == len(set(seen)), "a record was served twice"
    everything = {i["write_off_id"] for i in await walk(client, headers, limit=999)}
    assert everything - set(seen) <= set(created), "a record that existed all along was skipped"


async def test_tampered_token_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    token = (await client.get(WRITE_OFFS, params={"limit": 5}, headers=headers)).json()[
        "next_page_token"
    ]
    body, _, mac = token.partition(".")
    for bad in (body[:-2] + "AA." + mac, token + "x", "garbage", "é"):
        response = await client.get(WRITE_OFFS, params={"page_token": bad}, headers=headers)
        content = assert_candid_error(response, 422, "HttpRequestValidationsError")
        assert content[0]["fieldName"] == "page_token"


async def test_token_for_other_filters_is_422(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    token = (await client.get(WRITE_OFFS, params={"limit": 5}, headers=headers)).json()[
        "next_page_token"
    ]
    response = await client.get(
        WRITE_OFFS, params={"page_token": token, "sort": "amount_cents"}, headers=headers
    )
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert "different filters or sort" in content[0]["humanReadableMessage"]


async def test_token_from_another_tenant_is_422(client: httpx.AsyncClient) -> None:
    token = (await get(client, limit=5)).json()["next_page_token"]
    other = await auth(client, "globex")
    response = await client.get(WRITE_OFFS, params={"page_token": token}, headers=other)
    assert_candid_error(response, 422, "HttpRequestValidationsError")
