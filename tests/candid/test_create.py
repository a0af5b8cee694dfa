"""Creating write-offs: derivations, resolution of references, all-or-nothing, validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.candid.helpers import (
    BILLING_PROVIDER,
    CLAIM,
    NON_INSURANCE_PAYER,
    PATIENT,
    PAYER,
    SERVICE_LINE,
    UNKNOWN,
    WRITE_OFFS,
    assert_candid_error,
    auth,
    insurance_item,
    non_insurance_item,
    patient_item,
    walk,
)

pytestmark = pytest.mark.anyio


async def create(client: httpx.AsyncClient, *items: dict[str, Any]) -> httpx.Response:
    headers = await auth(client)
    return await client.post(WRITE_OFFS, json={"write_offs": list(items)}, headers=headers)


async def test_patient_write_off_derives_claim_and_patient(client: httpx.AsyncClient) -> None:
    response = await create(client, patient_item(write_off_note="Courtesy"))
    assert response.status_code == 200
    [made] = response.json()["write_offs"]
    assert made["type"] == "patient"
    assert made["claim_id"] == CLAIM
    assert made["patient_external_id"] == PATIENT
    assert made["service_line_id"] == SERVICE_LINE
    assert made["amount_cents"] == 1250
    assert made["write_off_note"] == "Courtesy"
    assert made["write_off_timestamp"] == "2024-01-15T09:30:00Z"


async def test_created_write_off_can_be_fetched(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    response = await client.post(WRITE_OFFS, json={"write_offs": [patient_item()]}, headers=headers)
    made = response.json()["write_offs"][0]
    fetched = await client.get(f"{WRITE_OFFS}/{made['write_off_id']}", headers=headers)
    assert fetched.json() == made


async def test_unset_and_null_optionals_are_omitted(client: httpx.AsyncClient) -> None:
    response = await create(client, patient_item(write_off_note=None))
    [made] = response.json()["write_offs"]
    for optional in (
        "write_off_note",
        "custom_write_off_reason",
        "reverts_write_off_id",
        "reverted_by_write_off_id",
    ):
        assert optional not in made


async def test_insurance_write_off_resolves_payer_by_uuid(client: httpx.AsyncClient) -> None:
    response = await create(client, insurance_item(custom_write_off_reason="Fee schedule 7"))
    [made] = response.json()["write_offs"]
    assert made["payer"]["payer_uuid"] == PAYER
    assert made["payer"]["payer_id"] == "SBX01"
    assert made["payer"]["payer_name"] == "Sandbox Mutual Insurance"
    assert made["write_off_target"] == {"type": "service_line_id", "value": SERVICE_LINE}
    assert made["custom_write_off_reason"] == "Fee schedule 7"
    assert "payer_identifier" not in made


async def test_insurance_write_off_resolves_payer_by_id_and_name(
    client: httpx.AsyncClient,
) -> None:
    identifier = {
        "type": "payer_info",
        "payer_id": "SBX01",
        "payer_name": "Sandbox Mutual Insurance",
    }
    response = await create(client, insurance_item(payer_identifier=identifier))
    assert response.json()["write_offs"][0]["payer"]["payer_uuid"] == PAYER


@pytest.mark.parametrize(
    ("kind", "value"),
    [("claim_id", CLAIM), ("billing_provider_id", BILLING_PROVIDER)],
)
async def test_insurance_write_off_keeps_each_target_kind(
    client: httpx.AsyncClient, kind: str, value: str
) -> None:
    response = await create(client, insurance_item(write_off_target={"type": kind, "value": value}))
    assert response.json()["write_offs"][0]["write_off_target"] == {"type": kind, "value": value}


async def test_non_insurance_payer_write_off_carries_clinical_trials(
    client: httpx.AsyncClient,
) -> None:
    response = await create(client, non_insurance_item())
    [made] = response.json()["write_offs"]
    payer = made["non_insurance_payer"]
    assert payer["non_insurance_payer_id"] == NON_INSURANCE_PAYER
    assert payer["clinical_trials"][0]["clinical_trial_number"] == "SBX00001"
    assert made["service_line_id"] == SERVICE_LINE


async def test_items_come_back_in_request_order(client: httpx.AsyncClient) -> None:
    items = [non_insurance_item(), patient_item(), insurance_item(), patient_item(amount_cents=7)]
    response = await create(client, *items)
    made = response.json()["write_offs"]
    assert [m["type"] for m in made] == [i["type"] for i in items]
    assert [m["amount_cents"] for m in made] == [i["amount_cents"] for i in items]
    assert len({m["write_off_id"] for m in made}) == 4


async def test_uppercase_uuids_are_accepted_and_normalised(client: httpx.AsyncClient) -> None:
    response = await create(client, patient_item(service_line_id=SERVICE_LINE.upper()))
    assert response.json()["write_offs"][0]["service_line_id"] == SERVICE_LINE


@pytest.mark.parametrize(
    "item",
    [
        patient_item(service_line_id=UNKNOWN),
        insurance_item(payer_identifier={"type": "payer_uuid", "value": UNKNOWN}),
        insurance_item(write_off_target={"type": "claim_id", "value": UNKNOWN}),
        insurance_item(write_off_target={"type": "service_line_id", "value": UNKNOWN}),
        insurance_item(write_off_target={"type": "billing_provider_id", "value": UNKNOWN}),
        non_insurance_item(non_insurance_payer_id=UNKNOWN),
        non_insurance_item(service_line_id=UNKNOWN),
    ],
)
async def test_unknown_reference_is_404_naming_the_id_and_stores_nothing(
    client: httpx.AsyncClient, item: dict[str, Any]
) -> None:
    headers = await auth(client)
    before = await walk(client, headers, limit=999)
    # The bad item comes last: the good one before it must not be stored either.
    response = await client.post(
        WRITE_OFFS, json={"write_offs": [patient_item(), item]}, headers=headers
    )
    content = assert_candid_error(response, 404, "EntityNotFoundError")
    assert content == {"id": UNKNOWN}
    assert await walk(client, headers, limit=999) == before


async def test_unknown_payer_info_names_the_payer_id(client: httpx.AsyncClient) -> None:
    identifier = {"type": "payer_info", "payer_id": "NOPE1", "payer_name": "Nobody"}
    response = await create(client, insurance_item(payer_identifier=identifier))
    assert assert_candid_error(response, 404, "EntityNotFoundError") == {"id": "NOPE1"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"write_offs": [patient_item(service_line_id=None)]}, "write_offs[0].service_line_id"),
        (
            {"write_offs": [{k: v for k, v in patient_item().items() if k != "amount_cents"}]},
            "write_offs[0].amount_cents",
        ),
        ({"write_offs": [patient_item(amount_cents=0)]}, "write_offs[0].amount_cents"),
        ({"write_offs": [patient_item(amount_cents="12")]}, "write_offs[0].amount_cents"),
        ({"write_offs": [patient_item(type="refund")]}, "write_offs[0].type"),
        ({"write_offs": [patient_item(type={})]}, "write_offs[0].type"),
        (
            {"write_offs": [patient_item(write_off_reason="CONTRACTUAL_ADJUSTMENT")]},
            "write_offs[0].write_off_reason",
        ),
        (
            {"write_offs": [patient_item(write_off_timestamp="yesterday")]},
            "write_offs[0].write_off_timestamp",
        ),
        (
            {"write_offs": [patient_item(write_off_timestamp="2024-01-15T09:30:00")]},
            "write_offs[0].write_off_timestamp",
        ),
        ({"write_offs": [patient_item(service_line_id="42")]}, "write_offs[0].service_line_id"),
        (
            {"write_offs": [insurance_item(write_off_target={"type": "claim_id"})]},
            "write_offs[0].write_off_target.value",
        ),
        (
            {"write_offs": [patient_item(), insurance_item(payer_identifier={"type": "x"})]},
            "write_offs[1].payer_identifier.type",
        ),
        ({"write_offs": "none"}, "write_offs"),
        ({}, "write_offs"),
        ([], "body"),
    ],
)
async def test_invalid_body_names_the_field(
    client: httpx.AsyncClient, body: Any, field: str
) -> None:
    headers = await auth(client)
    response = await client.post(WRITE_OFFS, json=body, headers=headers)
    content = assert_candid_error(response, 422, "HttpRequestValidationsError")
    assert field in [issue["fieldName"] for issue in content], content
    assert all(issue["humanReadableMessage"] for issue in content)


async def test_oversize_body_is_rejected_before_reading(client: httpx.AsyncClient) -> None:
    headers = await auth(client)
    note = "x" * 1_100_000
    response = await client.post(
        WRITE_OFFS, json={"write_offs": [patient_item(write_off_note=note)]}, headers=headers
    )
    content = assert_candid_error(response, 400, "BadRequestError")
    assert "at most 1048576" in content["message"]


async def test_empty_batch_is_422(client: httpx.AsyncClient) -> None:
    content = assert_candid_error(await create(client), 422, "HttpRequestValidationsError")
    assert content[0]["fieldName"] == "write_offs"
