"""MYCURE billing SOAs: create, get, patch (`$unset`, `finalize`), delete, and their errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from billing_sandbox.clock import ManualClock
from tests.mycure.helpers import (
    COMPANY_CONTRACT,
    DRAFT,
    FACILITY,
    FINALIZED,
    GOVERNMENT,
    HMO,
    HMO_CONTRACT,
    assert_feathers,
    bearer,
    create,
    sign_in,
)

pytestmark = pytest.mark.anyio


async def everything(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    """The organisation's whole state as a find shows it, to prove a refusal changed nothing."""
    response = await client.get("/billing-soas?$limit=1000", headers=headers)
    assert response.status_code == 200
    found: list[Any] = response.json()
    return found


async def test_create_fills_the_server_fields(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    creds = await sign_in(client)
    headers = {"Authorization": f"Bearer {creds['accessToken']}"}
    soa = await create(client, headers, note="December", paymentTerms=30, invoices=["inv-1"])
    assert soa["createdBy"] == creds["uid"]
    assert soa["createdAt"] == int(clock.now().timestamp() * 1000)
    assert (soa["customerType"], soa["customerSubtype"]) == ("insurance", "hmo")
    assert (soa["note"], soa["paymentTerms"], soa["invoices"]) == ("December", 30, ["inv-1"])
    assert "finalizedAt" not in soa and "finalizedBy" not in soa
    assert len(soa["id"]) == 24 and int(soa["id"], 16) >= 0
    assert (await client.get(f"/billing-soas/{soa['id']}", headers=headers)).json() == soa


@pytest.mark.parametrize(
    ("kind", "customer", "types"),
    [
        ("organization", GOVERNMENT, ("insurance", "government")),
        ("insurance-contract", HMO_CONTRACT, ("insurance", "hmo")),
        ("insurance-contract", COMPANY_CONTRACT, ("corporate-partner", None)),
    ],
)
async def test_customer_types_come_from_the_customer(
    client: httpx.AsyncClient, kind: str, customer: str, types: tuple[str, str | None]
) -> None:
    soa = await create(client, await bearer(client), type=kind, customer=customer)
    assert (soa["customerType"], soa.get("customerSubtype")) == types


async def test_a_given_created_at_is_kept(client: httpx.AsyncClient) -> None:
    soa = await create(client, await bearer(client), createdAt=1564661697125)
    assert soa["createdAt"] == 1564661697125


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "organization", "customer": HMO}, "facility"),
        ({"facility": FACILITY, "customer": HMO}, "type"),
        ({"facility": FACILITY, "type": "organization"}, "customer"),
        ({"facility": FACILITY, "type": "person", "customer": HMO}, "type"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "paymentTerms": "30"},
         "paymentTerms"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "startAt": -1}, "startAt"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO,
          "coveragePaymentMethod": "cod"}, "coveragePaymentMethod"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "invoices": "inv-1"},
         "invoices"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "createdBy": "me"},
         "createdBy"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "finalizedAt": 1},
         "finalizedAt"),
        ({"facility": FACILITY, "type": "organization", "customer": HMO, "customerType": "x"},
         "customerType"),
        # The customer must be of the kind `type` names, in the caller's organisation.
        ({"facility": FACILITY, "type": "organization", "customer": HMO_CONTRACT}, "customer"),
        ({"facility": FACILITY, "type": "insurance-contract", "customer": HMO}, "customer"),
        ({"facility": FACILITY, "type": "organization", "customer": "nobody"}, "customer"),
    ],
)  # fmt: skip
async def test_bad_create_is_400_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    headers = await bearer(client)
    before = await everything(client, headers)
    response = await client.post("/billing-soas", json=body, headers=headers)
    error = assert_feathers(response, 400, "BadRequest", field)
    assert field in error["errors"]
    assert await everything(client, headers) == before


async def test_a_facility_of_another_organisation_is_403(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    body = {"facility": "5eb0000000000000000fffff", "type": "organization", "customer": HMO}
    response = await client.post("/billing-soas", json=body, headers=headers)
    assert_feathers(response, 403, "Forbidden", "5eb0000000000000000fffff")


@pytest.mark.parametrize(
    ("content", "content_type", "says"),
    [
        (b'{"facility": ', "application/json", "JSON"),
        (b"facility=x", "application/x-www-form-urlencoded", "application/json"),
        (b"[]", "application/json", "object"),
    ],
)
async def test_unreadable_bodies_are_400(
    client: httpx.AsyncClient, content: bytes, content_type: str, says: str
) -> None:
    headers = {**await bearer(client), "Content-Type": content_type}
    response = await client.post("/billing-soas", content=content, headers=headers)
    assert_feathers(response, 400, "BadRequest", says)


async def test_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, "/billing-soas/5eb0000000000000000fffff", headers=headers, json={}
        )
        assert_feathers(
            response, 404, "NotFound", "No record found for id '5eb0000000000000000fffff'"
        )


async def test_patch_sets_fields_and_keeps_the_rest(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    soa = await create(client, headers, note="old")
    response = await client.patch(
        f"/billing-soas/{soa['id']}", json={"note": "new", "LOANo": "LOA-1"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json() == {**soa, "note": "new", "LOANo": "LOA-1"}


async def test_unset_removes_fields(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    soa = await create(client, headers, note="old", paymentTerms=30)
    response = await client.patch(
        f"/billing-soas/{soa['id']}",
        json={"$unset": {"note": 1, "paymentTerms": ""}},
        headers=headers,
    )
    assert response.status_code == 200
    assert "note" not in response.json() and "paymentTerms" not in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"facility": "5eb00000000000000000fa02"}, "facility"),
        ({"type": "insurance-contract"}, "type"),
        ({"customer": HMO}, "customer"),
        ({"createdBy": "me"}, "createdBy"),
        ({"finalizedAt": 1}, "finalizedAt"),
        ({"note": None}, "note"),
        ({"finalize": "yes"}, "finalize"),
        ({"$unset": {"facility": 1}}, "$unset"),
        ({"note": "x", "$unset": {"note": 1}}, "note"),
    ],
)
async def test_bad_patch_is_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    headers = await bearer(client)
    before = await client.get(f"/billing-soas/{DRAFT}", headers=headers)
    response = await client.patch(f"/billing-soas/{DRAFT}", json=body, headers=headers)
    error = assert_feathers(response, 400, "BadRequest", field)
    assert any(key.startswith(field) for key in error["errors"]), error
    assert (await client.get(f"/billing-soas/{DRAFT}", headers=headers)).json() == before.json()


async def test_finalize_stamps_time_and_caller_and_is_not_stored(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    finisher = await sign_in(client, "head@clinic-a.test")
    headers = {"Authorization": f"Bearer {finisher['accessToken']}"}
    soa = await create(client, await bearer(client))
    clock.advance(timedelta(minutes=5))
    response = await client.patch(
        f"/billing-soas/{soa['id']}", json={"finalize": True, "note": "final"}, headers=headers
    )
    assert response.status_code == 200
    done = response.json()
    assert done["finalizedAt"] == int(clock.now().timestamp() * 1000)
    assert done["finalizedBy"] == finisher["uid"] != done["createdBy"]
    assert done["note"] == "final" and "finalize" not in done


async def test_finalize_false_leaves_a_draft(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    soa = await create(client, headers)
    response = await client.patch(
        f"/billing-soas/{soa['id']}", json={"finalize": False}, headers=headers
    )
    assert response.json() == soa


async def test_a_finalized_soa_takes_no_further_change(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    before = (await client.get(f"/billing-soas/{FINALIZED}", headers=headers)).json()
    for body in ({"note": "late"}, {"finalize": True}, {"$unset": {"note": 1}}):
        response = await client.patch(f"/billing-soas/{FINALIZED}", json=body, headers=headers)
        assert_feathers(response, 400, "BadRequest", "finalized")
    assert (await client.get(f"/billing-soas/{FINALIZED}", headers=headers)).json() == before


async def test_an_empty_patch_returns_the_record_unchanged(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    response = await client.patch(f"/billing-soas/{FINALIZED}", json={}, headers=headers)
    assert response.status_code == 200 and response.json()["id"] == FINALIZED


async def test_a_draft_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    response = await client.delete(f"/billing-soas/{DRAFT}", headers=headers)
    assert_feathers(response, 400, "BadRequest", "only finalized SOAs can be deleted")
    assert (await client.get(f"/billing-soas/{DRAFT}", headers=headers)).status_code == 200


async def test_deleting_a_finalized_soa_returns_it_and_then_it_is_gone(
    client: httpx.AsyncClient,
) -> None:
    headers = await bearer(client)
    before = (await client.get(f"/billing-soas/{FINALIZED}", headers=headers)).json()
    response = await client.delete(f"/billing-soas/{FINALIZED}", headers=headers)
    assert response.status_code == 200 and response.json() == before
    again = await client.get(f"/billing-soas/{FINALIZED}", headers=headers)
    assert_feathers(again, 404, "NotFound", FINALIZED)
    assert FINALIZED not in {soa["id"] for soa in await everything(client, headers)}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", f"/billing-soas/{DRAFT}", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("POST", f"/billing-soas/{DRAFT}", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("PATCH", "/billing-soas", {"GET", "HEAD", "POST"}),  # no multi-patch
        ("DELETE", "/billing-soas/", {"GET", "HEAD", "POST"}),  # no multi-remove
        ("PUT", "/billing-soas", {"GET", "HEAD", "POST"}),
    ],
)
async def test_other_methods_are_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, headers=await bearer(client))
    assert_feathers(response, 405, "MethodNotAllowed", f"Method `{method}` is not supported")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


async def test_paths_answer_with_a_trailing_slash_as_express_does(
    client: httpx.AsyncClient,
) -> None:
    headers = await bearer(client)
    assert (await client.get(f"/billing-soas/{DRAFT}/", headers=headers)).status_code == 200
    assert (await client.get("/billing-soas/", headers=headers)).status_code == 200


async def test_an_id_of_a_newline_is_an_unknown_id_not_the_collection(
    client: httpx.AsyncClient,
) -> None:
    # Starlette's `$`-anchored routes matched `/billing-soas/` + "\n" as the collection.
    headers = await bearer(client)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, "/billing-soas/%0A", headers=headers, json={})
        assert_feathers(response, 404, "NotFound", "No record found for id '\n'")


async def test_an_oversize_body_is_400_and_stores_nothing(client: httpx.AsyncClient) -> None:
    headers = await bearer(client)
    before = await everything(client, headers)
    body = {"facility": FACILITY, "type": "organization", "customer": HMO, "note": "x" * 2_000_000}
    response = await client.post("/billing-soas", json=body, headers=headers)
    assert_feathers(response, 400, "BadRequest", "bytes")
    assert await everything(client, headers) == before
