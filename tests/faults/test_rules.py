"""Injected faults: `Prefer` per request, rules per match; none ever changes stored state."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, assert_candid_error, auth
from tests.decoda.helpers import CHARGE, CREATE, PATIENT, assert_detail, creds
from tests.mycure.helpers import FACILITY, HMO, assert_feathers, bearer
from tests.support.live import live_server

pytestmark = pytest.mark.anyio
NEW_CHARGE = {"patientId": PATIENT, "totalOutstanding": 700}


async def charges(client: httpx.AsyncClient, tenant: str = "acme") -> list[Any]:
    response = await client.get("/billing/charge/list", headers=creds(tenant))
    assert response.status_code == 200
    found: list[Any] = response.json()
    return found


async def add_rule(client: httpx.AsyncClient, **rule: Any) -> dict[str, Any]:
    response = await client.post("/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_prefer_code_answers_that_status_in_each_vendors_envelope(
    client: httpx.AsyncClient,
) -> None:
    candid = await client.get(WRITE_OFFS, headers={**await auth(client), "Prefer": "code=500"})
    assert_candid_error(candid, 500, "InternalError")
    decoda = await client.get(
        f"/billing/charge/get/{CHARGE}", headers={**creds(), "Prefer": "code=404"}
    )
    assert_detail(decoda, 404)
    mycure = await client.get(
        "/billing-soas", headers={**await bearer(client), "Prefer": "code=401"}
    )
    assert_feathers(mycure, 401, "NotAuthenticated", "Prefer")


async def test_prefer_code_the_operation_does_not_declare_is_400_saying_so(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(WRITE_OFFS, headers={**await auth(client), "Prefer": "code=418"})
    content = assert_candid_error(response, 400, "BadRequestError")
    assert "418" in content["message"] and "getWriteOffs does not declare" in content["message"]


async def test_a_faulted_request_changes_nothing(client: httpx.AsyncClient) -> None:
    before = await charges(client)
    response = await client.post(CREATE, json=NEW_CHARGE, headers={**creds(), "Prefer": "code=500"})
    assert response.status_code == 500
    assert await charges(client) == before
    headers = {**await bearer(client), "Prefer": "code=400"}
    body = {"facility": FACILITY, "type": "organization", "customer": HMO, "note": "faulted"}
    assert (await client.post("/billing-soas", json=body, headers=headers)).status_code == 400
    found = await client.get("/billing-soas?note=faulted", headers=await bearer(client))
    assert found.json() == []


async def test_prefer_delay_holds_the_request_then_answers(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get(
        f"/billing/charge/get/{CHARGE}", headers={**creds(), "Prefer": "delay=250"}
    )
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.25


@pytest.mark.parametrize("settings", [Settings(max_fault_delay_ms=20)])
async def test_delays_are_capped_by_a_setting(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    response = await client.get(
        f"/billing/charge/get/{CHARGE}", headers={**creds(), "Prefer": "delay=60000"}
    )
    assert response.status_code == 200
    assert time.monotonic() - started < 10  # far below the 60 s asked for


async def test_an_unusable_prefer_value_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/billing/charge/get/{CHARGE}", headers={**creds(), "Prefer": "code=soon"}
    )
    assert_detail(response, 400, "must be a whole number")


async def test_a_rule_fires_count_times_on_its_match_only(client: httpx.AsyncClient) -> None:
    rule = await add_rule(
        client, match={"api": "decoda", "operationId": "createCharge", "tenant": "acme"},
        effect={"status": 500}, count=2,
    )  # fmt: skip
    before = await charges(client)
    statuses = [
        (await client.post(CREATE, json=NEW_CHARGE, headers=creds())).status_code for _ in range(3)
    ]
    assert statuses == [500, 500, 200]
    other = await client.post(CREATE, json=NEW_CHARGE, headers=creds("globex"))
    assert other.status_code == 200  # another tenant: no match
    assert len(await charges(client)) == len(before) + 1  # only the unfaulted one was stored
    [listed] = (await client.get("/_sandbox/faults")).json()["faults"]
    assert (listed["id"], listed["fired"], listed["count"]) == (rule["id"], 2, 2)


async def test_a_rule_matches_a_path_template_and_method(client: httpx.AsyncClient) -> None:
    await add_rule(
        client, match={"method": "GET", "path": "/billing-soas/{id}"}, effect={"status": 404}
    )
    headers = await bearer(client)
    got = await client.get("/billing-soas/5eb000000000000000005a01", headers=headers)
    assert_feathers(got, 404, "NotFound")
    assert (await client.get("/billing-soas", headers=headers)).status_code == 200


async def test_probability_draws_from_the_seed(client: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        app = create_app(Settings(seed=3))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            rule = {"match": {"api": "decoda"}, "effect": {"status": 500}, "probability": 0.5}
            await c.post("/_sandbox/faults", json=rule)
            return [
                (await c.get(f"/billing/charge/get/{CHARGE}", headers=creds())).status_code
                for _ in range(20)
            ]

    first, second = await run(), await run()
    assert first == second
    assert 500 in first and 200 in first


async def test_rules_are_removed_one_or_all(client: httpx.AsyncClient) -> None:
    one = await add_rule(client, effect={"status": 500})
    await add_rule(client, effect={"delayMs": 10})
    assert (await client.delete(f"/_sandbox/faults/{one['id']}")).json()["id"] == one["id"]
    assert (await client.delete(f"/_sandbox/faults/{one['id']}")).status_code == 404
    assert (await client.delete("/_sandbox/faults")).json() == {"cleared": 1}
    response = await client.get(f"/billing/charge/get/{CHARGE}", headers=creds())
    assert response.status_code == 200


@pytest.mark.parametrize(
    "rule",
    [
        {"effect": {}},
        {"effect": {"status": 200}},
        {"effect": {"status": 500}, "probability": 0},
        {"effect": {"status": 500}, "match": {"api": "stripe"}},
        {"match": {"api": "decoda"}},
    ],
)
async def test_a_bad_rule_is_422_and_adds_nothing(
    client: httpx.AsyncClient, rule: dict[str, Any]
) -> None:
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 422
    assert (await client.get("/_sandbox/faults")).json() == {"faults": []}


def test_a_dropped_connection_reaches_the_client_and_the_journal() -> None:
    with live_server() as url, httpx.Client(base_url=url) as http:
        rule = {"match": {"operationId": "getCharge"}, "effect": {"drop": True}, "count": 1}
        assert http.post("/_sandbox/faults", json=rule).status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"/billing/charge/get/{CHARGE}", headers=creds())
        assert http.get(f"/billing/charge/get/{CHARGE}", headers=creds()).status_code == 200
        entries = http.get("/_sandbox/requests?operationId=getCharge").json()["requests"]
        assert [e["status"] for e in entries] == [200, 0]
