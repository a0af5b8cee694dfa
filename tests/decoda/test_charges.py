"""Charges in both generations: the money formula, one store behind both shapes, lists, archive."""

from __future__ import annotations

import httpx
import pytest

from tests.decoda.helpers import (
    CHARGE,
    CREATE,
    ITEM,
    ITEM_2,
    PATIENT,
    assert_detail,
    charge,
    creds,
    new_charge,
    timeline,
)

pytestmark = pytest.mark.anyio


async def test_total_follows_the_formula(client: httpx.AsyncClient) -> None:
    # lines: 2 x 5000 - 1000 + 300 = 9300; 1 x 4000 - 10% + 0 = 3600; subtotal 12900;
    # the charge's own 5% discount: 645 → total 12255.
    items = [
        {"quantity": 2, "price": 5000, "discountAmount": 1000, "taxAmount": 300},
        {"quantity": 1, "price": 4000, "discountPercentage": 10},
    ]
    made = await new_charge(client, owed=12_255, items=items, discountPercentage=5)
    assert made["total"] == 12_255
    assert made["totalOutstanding"] == 12_255
    assert made["status"] == "OUTSTANDING"


async def test_line_discount_amount_wins_over_percentage(client: httpx.AsyncClient) -> None:
    items = [{"quantity": 1, "price": 1000, "discountAmount": 100, "discountPercentage": 50}]
    assert (await new_charge(client, owed=900, items=items))["total"] == 900


async def test_without_items_total_is_the_outstanding_amount(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=4_321)
    assert (made["total"], made["totalOutstanding"]) == (4_321, 4_321)


async def test_zero_owed_charge_is_paid(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=0, items=[{"quantity": 1, "price": 500}])
    assert made["status"] == "PAID"


async def test_outstanding_above_total_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE,
        json={
            "patientId": PATIENT,
            "totalOutstanding": 999,
            "items": [{"quantity": 1, "price": 500}],
        },
        headers=creds(),
    )
    assert_detail(response, 422, "exceeds the charge's total 500")


async def test_requested_status_must_match_the_numbers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE,
        json={"patientId": PATIENT, "totalOutstanding": 100, "status": "PAID"},
        headers=creds(),
    )
    assert_detail(response, 422, "is OUTSTANDING, not PAID")


async def test_unknown_patient_or_item_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE, json={"patientId": "pat_nope", "totalOutstanding": 1}, headers=creds()
    )
    assert_detail(response, 404, "pat_nope")
    response = await client.post(
        CREATE,
        json={
            "patientId": PATIENT,
            "totalOutstanding": 1,
            "items": [{"quantity": 1, "price": 1, "itemId": "item_nope"}],
        },
        headers=creds(),
    )
    assert_detail(response, 404, "item_nope")


async def test_legacy_lines_price_from_the_catalogue(client: httpx.AsyncClient) -> None:
    body = {
        "patientId": PATIENT,
        "totalOutstanding": 12_500,
        "customAmount": 500,
        "items": [{"itemId": ITEM, "quantity": 2}, {"itemId": ITEM_2, "quantity": 1}],
        "discountAmount": 500,
    }
    response = await client.post("/v1/charge/create", json=body, headers=creds())
    assert response.status_code == 200, response.text
    made = response.json()
    assert made["total"] == 2 * 5000 + 2500 + 500 - 500
    assert made["customAmount"] == 500
    assert made["explanationOfBenefits"] == []
    assert [i["item"]["price"] for i in made["items"]] == [5000, 2500]


async def test_legacy_inline_item_joins_the_catalogue(client: httpx.AsyncClient) -> None:
    body = {
        "patientId": PATIENT,
        "totalOutstanding": 3000,
        "items": [{"item": {"name": "Vitamin D shot", "price": 3000}, "quantity": 1}],
    }
    made = (await client.post("/v1/charge/create", json=body, headers=creds())).json()
    item_id = made["items"][0]["itemId"]
    again = {
        "patientId": PATIENT,
        "totalOutstanding": 3000,
        "items": [{"itemId": item_id, "quantity": 1}],
    }
    assert (await client.post("/v1/charge/create", json=again, headers=creds())).status_code == 200
    reference = (await client.get("/_sandbox/tenants/acme/reference/decoda")).json()
    assert item_id in {i["id"] for i in reference["items"]}


async def test_failed_legacy_create_adds_no_catalogue_item(client: httpx.AsyncClient) -> None:
    before = (await client.get("/_sandbox/tenants/acme/reference/decoda")).json()["items"]
    body = {
        "patientId": PATIENT,
        "totalOutstanding": 99_999,  # more than the line's 3000: refused after the item is built
        "items": [{"item": {"name": "Ghost", "price": 3000}, "quantity": 1}],
    }
    assert_detail(await client.post("/v1/charge/create", json=body, headers=creds()), 422)
    after = (await client.get("/_sandbox/tenants/acme/reference/decoda")).json()["items"]
    assert after == before


async def test_legacy_line_needs_an_item(client: httpx.AsyncClient) -> None:
    body = {"patientId": PATIENT, "totalOutstanding": 1, "items": [{"quantity": 1}]}
    detail = assert_detail(await client.post("/v1/charge/create", json=body, headers=creds()), 422)
    assert detail[0]["loc"] == ["body", "items", 0]


async def test_one_store_behind_both_generations(client: httpx.AsyncClient) -> None:
    body = {
        "patientId": PATIENT,
        "totalOutstanding": 5000,
        "items": [{"itemId": ITEM, "quantity": 1}],
    }
    legacy = (await client.post("/v1/charge/create", json=body, headers=creds())).json()
    current = await charge(client, legacy["id"])
    assert (current["total"], current["totalOutstanding"]) == (
        legacy["total"],
        legacy["totalOutstanding"],
    )
    assert current["items"][0]["item"]["name"] == "Consultation"
    events = await timeline(client, charge_id=legacy["id"])
    assert [e["type"] for e in events] == ["CHARGE"]


async def test_current_list_filters_by_patient_and_status(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/billing/charge/list",
        params={"patient_id": PATIENT, "status": "OUTSTANDING"},
        headers=creds(),
    )
    listed = response.json()
    assert CHARGE in {c["id"] for c in listed}
    assert {(c["patientId"], c["status"]) for c in listed} == {(PATIENT, "OUTSTANDING")}


async def test_legacy_list_sorts_filters_and_limits(client: httpx.AsyncClient) -> None:
    params: dict[str, str | int] = {
        "sort_by": "total",
        "sort_direction": "asc",
        "n": 7,
        "status": "PAID",
    }
    listed = (await client.get("/v1/charge/list", params=params, headers=creds())).json()
    assert len(listed) == 7
    assert [c["total"] for c in listed] == sorted(c["total"] for c in listed)
    assert {c["status"] for c in listed} == {"PAID"}
    assert "items" not in listed[0]  # the legacy summary has no arrays


async def test_archive_hides_the_charge_everywhere(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=800)
    response = await client.delete(f"/billing/charge/{made['id']}", headers=creds())
    assert response.json() is True
    assert_detail(await client.get(f"/billing/charge/get/{made['id']}", headers=creds()), 404)
    listed = (await client.get("/billing/charge/list", headers=creds())).json()
    assert made["id"] not in {c["id"] for c in listed}
    response = await client.get(
        "/billing/charge/timeline", params={"charge_id": made["id"]}, headers=creds()
    )
    assert_detail(response, 404)


async def test_archive_refuses_card_payments(client: httpx.AsyncClient) -> None:
    listed = (
        await client.get("/billing/charge/list", params={"status": "PAID"}, headers=creds())
    ).json()
    carded = next(
        c for c in listed if any(p["payment"]["paymentMedium"] == "POS" for p in c["payments"])
    )
    response = await client.delete(f"/billing/charge/{carded['id']}", headers=creds())
    assert_detail(response, 422, "card payments")


async def test_patients_in_both_generations(client: httpx.AsyncClient) -> None:
    current = (
        await client.post(
            "/user/patient/create", json={"firstName": "Ana", "email": "a@x.test"}, headers=creds()
        )
    ).json()
    assert current["type"] == "PATIENT"
    assert current["creditBalance"] == 0
    legacy = (await client.get(f"/v1/patient/{current['id']}", headers=creds())).json()
    assert legacy["firstName"] == "Ana"
    chart = (await client.get(f"/user/patient/{current['id']}", headers=creds())).json()
    assert chart["totalSpent"] == 0
    found = (
        await client.get("/v1/patient/list", params={"search_term": "ana"}, headers=creds())
    ).json()
    assert current["id"] in {p["id"] for p in found}


async def test_legacy_patient_needs_a_first_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/patient/create", json={"lastName": "X"}, headers=creds())
    detail = assert_detail(response, 422)
    assert detail[0]["loc"] == ["body", "firstName"]


async def test_negative_outstanding_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CREATE, json={"patientId": PATIENT, "totalOutstanding": -500}, headers=creds()
    )
    detail = assert_detail(response, 422)
    assert detail[0]["loc"] == ["body", "totalOutstanding"]


async def test_whole_number_floats_are_stored_as_integers(client: httpx.AsyncClient) -> None:
    made = await new_charge(client, owed=5000.0)  # type: ignore[arg-type]
    assert made["total"] == 5000
    assert isinstance(made["total"], int)
    response = await client.post(
        "/billing/adjustment/create",
        json={"chargeId": made["id"], "amount": -250.0, "reason": "x"},
        headers=creds(),
    )
    assert isinstance(response.json()["amount"], int)
    assert (await charge(client, made["id"]))["total"] == 4750


async def test_a_charge_named_by_the_client_keeps_its_id_and_is_made_once(
    client: httpx.AsyncClient,
) -> None:
    body = {"id": "chg_client_0001", "patientId": PATIENT, "totalOutstanding": 250}
    made = await client.post(CREATE, json=body, headers=creds())
    assert made.status_code == 200, made.text
    assert made.json()["id"] == "chg_client_0001"
    again = await client.post(CREATE, json=body, headers=creds())
    assert again.status_code == 422
    assert again.json() == {"detail": "Charge chg_client_0001 already exists"}
    listed = (await client.get("/billing/charge/list", headers=creds())).json()
    assert [c["id"] for c in listed].count("chg_client_0001") == 1
