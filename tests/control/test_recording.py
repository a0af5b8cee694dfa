"""`GET /_sandbox/tenants/{tenant}/scenario`: a tenant's journaled writes as a scenario that,
replayed into a fresh tenant of the same name, serves the same records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.scenarios import Applier, load_scenario
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CREATE, PATIENT, SETTLE

pytestmark = pytest.mark.anyio

# At once a Decoda TENANT, a Candid client id and a MYCURE organisation (an email domain).
TENANT = "clinic-a.test"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODA = {"TENANT": TENANT, "API-KEY": "any"}
SERVICE_LINE = "5e1f0000-0000-4000-8000-000000000001"
FACILITY = "5eb00000000000000000fa01"
HMO_CONTRACT = "5eb00000000000000000cc01"


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


async def recording(client: httpx.AsyncClient, tenant: str = TENANT) -> dict[str, Any]:
    answer = await client.get(f"/_sandbox/tenants/{tenant}/scenario")
    assert answer.status_code == 200, answer.text
    recorded: dict[str, Any] = answer.json()
    return recorded


async def a_clinics_morning(client: httpx.AsyncClient) -> None:
    """Writes to all three APIs, each later one naming what an earlier one made; with reads,
    sign-ins and refused calls in between, which change nothing."""
    patient = await ok(
        await client.post(
            "/user/patient/create",
            json={"firstName": "Ada", "lastName": "${not a template}"},
            headers=DECODA,
        )
    )
    charge = await ok(
        await client.post(
            CREATE,
            json={"patientId": patient["id"], "totalOutstanding": 9300,
                  "items": [{"quantity": 2, "price": 5000, "discountAmount": 1000,
                             "taxAmount": 300}]},
            headers=DECODA,
        )
    )  # fmt: skip
    await ok(await client.get(f"/billing/charge/get/{charge['id']}", headers=DECODA))
    refused = await client.post(
        CREATE, json={"patientId": "pat_nobody", "totalOutstanding": 1}, headers=DECODA
    )
    assert refused.status_code == 404
    payment = await ok(
        await client.post(
            SETTLE,
            params={"payment_medium": "CASH", "amount": 9300},
            json=[{"id": charge["id"], "patientId": patient["id"], "totalOutstanding": 9300}],
            headers=DECODA,
        )
    )
    await ok(
        await client.post(
            "/billing/payment/refund",
            json={"paymentId": payment["id"], "providerId": "prov_1", "amount": 2000,
                  "reason": "OTHER"},
            headers=DECODA,
        )
    )  # fmt: skip
    token = await ok(
        await client.post("/api/auth/v2/token", json={"client_id": TENANT, "client_secret": "any"})
    )
    candid = {"Authorization": f"Bearer {token['access_token']}"}
    made = await ok(
        await client.post(
            "/api/write-offs/v1",
            json={"write_offs": [{"type": "patient", "write_off_timestamp": "2026-01-15T09:30:00Z",
                                  "write_off_reason": "SMALL_BALANCE",
                                  "service_line_id": SERVICE_LINE, "amount_cents": 1250}]},
            headers=candid,
        )
    )  # fmt: skip
    write_off_id = made["write_offs"][0]["write_off_id"]
    await ok(await client.post(f"/api/write-offs/v1/{write_off_id}/revert", headers=candid))
    # The account a scenario signs in as, so the statements' `createdBy` is the same on replay.
    signed_in = await ok(
        await client.post(
            "/authentication",
            json={"strategy": "local", "email": f"scenario@{TENANT}", "password": "any"},
        )
    )
    mycure = {"Authorization": f"Bearer {signed_in['accessToken']}"}
    soa = await ok(
        await client.post(
            "/billing-soas",
            json={"facility": FACILITY, "type": "insurance-contract", "customer": HMO_CONTRACT,
                  "paymentTerms": 30},
            headers=mycure,
        )
    )  # fmt: skip
    await ok(
        await client.patch(
            f"/billing-soas/{soa['id']}", json={"note": "sent", "finalize": True}, headers=mycure
        )
    )


async def every_record(client: httpx.AsyncClient) -> dict[tuple[str, str, int], bytes]:
    """Every page of every kind of record of the tenant, as the records view serves it."""
    pages: dict[tuple[str, str, int], bytes] = {}
    for api in ("candid", "decoda", "mycure"):
        base = f"/_sandbox/tenants/{TENANT}/records/{api}"
        kinds = (await ok(await client.get(base)))["kinds"]
        for kind, total in kinds.items():
            for offset in range(0, total, 100):
                page = await client.get(base, params={"kind": kind, "limit": 100, "offset": offset})
                assert page.status_code == 200, page.text
                pages[api, kind, offset] = page.content
    return pages


async def test_replayed_into_a_fresh_tenant_of_the_same_name_it_serves_the_same_records() -> None:
    original = create_app(Settings(), clock=ManualClock(NOW))
    async with client_of(original) as client:
        await a_clinics_morning(client)
        recorded = await recording(client)
        served = await every_record(client)
    assert recorded["complete"] is True and recorded["calls"] == 8
    replica = create_app(Settings(), clock=ManualClock(NOW))
    await Applier(replica).apply(load_scenario(recorded["scenario"]), TENANT)
    async with client_of(replica) as client:
        assert await every_record(client) == served
    assert len(served) > 7  # every kind of every API, more than one page of some


async def newest(client: httpx.AsyncClient, kind: str) -> Any:
    page = await ok(
        await client.get(
            f"/_sandbox/tenants/{TENANT}/records/decoda",
            params={"kind": kind, "order": "newest", "limit": 1},
        )
    )
    return page["records"][0]


async def test_the_replay_does_not_depend_on_the_ids_it_recorded() -> None:
    """With the tenant's ids drawn in another order (a patient made first), every id the
    scenario makes is another, and its later steps still name the records it made."""
    original = create_app(Settings(), clock=ManualClock(NOW))
    async with client_of(original) as client:
        await a_clinics_morning(client)
        recorded = await recording(client)
        refund_then = await newest(client, "refunds")
    replica = create_app(Settings(), clock=ManualClock(NOW))
    async with client_of(replica) as client:
        await ok(await client.post("/user/patient/create", json={}, headers=DECODA))
        applied = await Applier(replica).apply(load_scenario(recorded["scenario"]), TENANT)
        refund_now = await newest(client, "refunds")
    made = applied.named
    assert made["s2"]["patientId"] == made["s1"]["id"]
    assert refund_now["paymentId"] == made["s3"]["id"] != refund_then["paymentId"]


async def test_ids_an_earlier_call_returned_become_references_to_it() -> None:
    async with client_of(create_app(Settings(), clock=ManualClock(NOW))) as client:
        await a_clinics_morning(client)
        steps = (await recording(client))["scenario"]["steps"]
    # The read, the refused call and the two sign-ins are left out.
    assert [step["call"] for step in steps] == [
        "POST /user/patient/create",
        f"POST {CREATE}",
        f"POST {SETTLE}",
        "POST /billing/payment/refund",
        "POST /api/write-offs/v1",
        "POST /api/write-offs/v1/${s5.write_offs[0].write_off_id}/revert",
        "POST /billing-soas",
        "PATCH /billing-soas/${s7.id}",
    ]
    assert [step.get("name") for step in steps] == ["s1", "s2", "s3", None, "s5", None, "s7", None]
    assert [step["api"] for step in steps] == ["decoda"] * 4 + ["candid"] * 2 + ["mycure"] * 2
    assert steps[1]["body"]["patientId"] == "${s1.id}"
    assert steps[2]["query"] == {"payment_medium": "CASH", "amount": 9300}
    assert steps[2]["body"] == [
        {"id": "${s2.id}", "patientId": "${s1.id}", "totalOutstanding": 9300}
    ]
    assert steps[3]["body"]["paymentId"] == "${s3.id}"
    # A `${` a client sent is kept as text, not read as a template.
    assert steps[0]["body"]["lastName"] == "$${not a template}"


async def test_only_a_carried_out_call_is_recorded_a_faults_answer_is_not(
    client: httpx.AsyncClient,
) -> None:
    lost = {"match": {"operationId": "createPatient"},
            "effect": {"status": 503, "afterCommit": True}, "count": 1}  # fmt: skip
    await ok(await client.post("/_sandbox/faults", json=lost))
    answer_lost = await client.post("/user/patient/create", json={"firstName": "Lost"},
                                    headers=DECODA)  # fmt: skip
    assert answer_lost.status_code == 503
    instead = {"match": {"operationId": "createPatient"}, "effect": {"status": 503}, "count": 1}
    await ok(await client.post("/_sandbox/faults", json=instead))
    failed = await client.post("/user/patient/create", json={"firstName": "No"}, headers=DECODA)
    assert failed.status_code == 503
    # A 2xx whose body is not JSON, answered in the sandbox's place: nothing was carried out.
    garbled = {"match": {"operationId": "createPatient"}, "effect": {"malformed": True}, "count": 1}
    await ok(await client.post("/_sandbox/faults", json=garbled))
    malformed = await client.post("/user/patient/create", json={"firstName": "Nor"}, headers=DECODA)
    assert malformed.status_code == 200
    steps = (await recording(client))["scenario"]["steps"]
    assert [step["body"]["firstName"] for step in steps] == ["Lost"]


async def test_the_answer_says_when_the_journal_let_some_of_the_tenants_requests_go() -> None:
    app = create_app(Settings(journal_size=3), clock=ManualClock(NOW))
    async with client_of(app) as client:
        for name in ("One", "Two", "Three", "Four", "Five"):
            await ok(await client.post("/user/patient/create", json={"firstName": name},
                                       headers=DECODA))  # fmt: skip
        other = {"TENANT": "globex", "API-KEY": "any"}
        await ok(await client.post("/user/patient/create", json={}, headers=other))
        recorded = await recording(client)
        globex = await recording(client, "globex")
    assert (recorded["complete"], recorded["droppedRequests"], recorded["calls"]) == (False, 3, 2)
    assert recorded["notes"][0].startswith("the journal let 3 of this tenant's earlier requests go")
    assert [s["body"]["firstName"] for s in recorded["scenario"]["steps"]] == ["Four", "Five"]
    # Another tenant's requests falling out does not make this one's incomplete.
    assert (globex["complete"], globex["droppedRequests"]) == (True, 0)


async def test_a_body_the_journal_cut_is_left_out_and_said_so() -> None:
    app = create_app(Settings(journal_body_bytes=60), clock=ManualClock(NOW))
    async with client_of(app) as client:
        await ok(await client.post("/user/patient/create", json={"firstName": "x" * 100},
                                   headers=DECODA))  # fmt: skip
        await ok(await client.post("/user/patient/create", json={"firstName": "Ada"},
                                   headers=DECODA))  # fmt: skip
        recorded = await recording(client)
    assert recorded["complete"] is False and recorded["calls"] == 1
    assert any("only part of its body" in note for note in recorded["notes"])


async def test_secrets_the_journal_redacted_are_named_in_the_notes(
    client: httpx.AsyncClient,
) -> None:
    sent = {"firstName": "Ada", "meta": {"portalApiKey": "k-123"}}
    await ok(await client.post("/user/patient/create", json=sent, headers=DECODA))
    recorded = await recording(client)
    [step] = recorded["scenario"]["steps"]
    assert step["body"]["meta"] == {"portalApiKey": "[redacted]"}
    assert "POST /user/patient/create: body.meta.portalApiKey" in recorded["notes"][-1]


async def test_a_moved_clock_is_said_and_not_recorded(client: httpx.AsyncClient) -> None:
    await ok(await client.post(f"/_sandbox/tenants/{TENANT}/clock", json={"advanceSeconds": 60}))
    await ok(await client.post("/user/patient/create", json={}, headers=DECODA))
    recorded = await recording(client)
    assert [list(step) for step in recorded["scenario"]["steps"]] == [["call", "body"]]
    assert any(note.startswith("the tenant's clock is +60 s") for note in recorded["notes"])


async def test_as_yaml_it_is_the_file_with_its_notes_on_top(client: httpx.AsyncClient) -> None:
    await ok(await client.post("/user/patient/create", json={"firstName": "Ada"}, headers=DECODA))
    as_json = await recording(client)
    answer = await client.get(f"/_sandbox/tenants/{TENANT}/scenario", params={"format": "yaml"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/yaml")
    assert answer.text.startswith(f"# Recorded from tenant {TENANT} by billing-sandbox.\n")
    assert yaml.safe_load(answer.text) == as_json["scenario"]
    # Not a valid scenario name, so the file says which tenant to apply it to.
    assert as_json["scenario"]["name"] == "clinic-a-test"
    assert any(f"FILE@{TENANT}" in note for note in as_json["notes"])


async def test_a_tenant_with_no_write_in_the_journal_is_a_404(client: httpx.AsyncClient) -> None:
    await ok(await client.get("/billing/charge/get/chg_sandbox_0001", headers=DECODA))
    answer = await client.get(f"/_sandbox/tenants/{TENANT}/scenario")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": "NotFound",
        "message": f"the journal holds no write of tenant {TENANT!r} to record; "
        "GET /_sandbox/requests?tenant=… lists what it holds",
    }


async def test_a_curated_id_stays_literal(client: httpx.AsyncClient) -> None:
    """An id no earlier call returned (seeded, or sent first) is the same in a fresh tenant of
    the same name and seed: it stays as it was sent."""
    await ok(await client.post(CREATE, json={"patientId": PATIENT, "totalOutstanding": 0},
                               headers=DECODA))  # fmt: skip
    [step] = (await recording(client))["scenario"]["steps"]
    assert step["body"]["patientId"] == PATIENT
