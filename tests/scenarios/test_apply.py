"""Applying scenarios through the app in process: references, the clock, repeats with Faker values,
control steps, every API's credentials, and a refused step's report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.scenarios import Applier, ScenarioInvalid, StepFailed, load_scenario
from billing_sandbox.settings import Settings
from tests.scenarios.helpers import PATIENT, decoda, document, written

pytestmark = pytest.mark.anyio

TENANT = "clinic.test"
CHARGE = "POST /billing/payment-terminal/charge/create"
DECODA = {"TENANT": TENANT, "API-KEY": "any"}


async def get(client: httpx.AsyncClient, path: str, **options: Any) -> Any:
    response = await client.get(path, **options)
    assert response.status_code == 200, response.text
    return response.json()


async def test_later_steps_use_earlier_answers(applier: Applier, client: httpx.AsyncClient) -> None:
    scenario = decoda(
        {"name": "patient", "call": "POST /user/patient/create", "body": {"firstName": "Ada"}},
        {
            "name": "charge",
            "call": CHARGE,
            "body": {
                "patientId": "${patient.id}",
                "totalOutstanding": 4500,
                "description": "for ${patient.firstName}",
            },
        },
        {"name": "read", "call": "GET /billing/charge/get/${charge.id}"},
    )
    applied = await applier.apply(scenario, TENANT)
    patient, charge = applied.named["patient"], applied.named["charge"]
    assert (applied.tenant, applied.scenario, applied.steps) == (TENANT, "test", 3)
    assert charge["patientId"] == patient["id"]
    assert applied.named["read"]["description"] == "for Ada"
    served = await get(client, f"/billing/charge/get/{charge['id']}", headers=DECODA)
    assert served["totalOutstanding"] == 4500


async def test_the_clock_steps(applier: Applier, client: httpx.AsyncClient) -> None:
    scenario = written(
        """
        scenario: 1
        name: clocked
        apis: [decoda]
        steps:
          - clock: {freeze: "2025-06-01T08:00:00Z"}
          - name: early
            call: POST /user/patient/create
            body: {firstName: "${now}", lastName: "${today - 1d}"}
          - clock: {advance: 1d12h}
          - name: later
            call: POST /user/patient/create
            body: {firstName: "${now - 30m}"}
          - name: running
            clock: {resume: true}
        """
    )
    applied = await applier.apply(scenario, TENANT)
    assert applied.named["early"]["createdDate"] == "2025-06-01T08:00:00Z"
    assert (applied.named["early"]["firstName"], applied.named["early"]["lastName"]) == (
        "2025-06-01T08:00:00Z",
        "2025-05-31",
    )
    assert applied.named["later"]["createdDate"] == "2025-06-02T20:00:00Z"
    assert applied.named["later"]["firstName"] == "2025-06-02T19:30:00Z"
    assert applied.named["running"]["frozen"] is False
    clock = await get(client, f"/_sandbox/tenants/{TENANT}/clock")
    assert clock["frozen"] is False


async def test_now_is_the_tenants_clock(applier: Applier, client: httpx.AsyncClient) -> None:
    moved = await client.post(f"/_sandbox/tenants/{TENANT}/clock", json={"advanceSeconds": 86_400})
    assert moved.status_code == 200
    scenario = decoda(
        {"name": "p", "call": "POST /user/patient/create", "body": {"firstName": "${now}"}}
    )
    applied = await applier.apply(scenario, TENANT)
    # The app's clock (the test's) is at 2026-03-01T12:00:00Z; the tenant's runs a day ahead.
    assert applied.named["p"]["firstName"] == "2026-03-02T12:00:00Z"


async def test_a_repeat_draws_faker_values(applier: Applier, client: httpx.AsyncClient) -> None:
    scenario = decoda(
        {
            "repeat": 6,
            "as": "n",
            "steps": [
                {
                    "name": "patient",
                    "call": "POST /user/patient/create",
                    "body": {
                        "firstName": "${fake.first_name}",
                        "externalId": "ext-${n}",
                        "email": "${fake.email}",
                    },
                },
                {
                    "call": CHARGE,
                    "body": {"patientId": "${patient.id}", "totalOutstanding": "${n}"},
                },
            ],
        },
        seed=3,
    )
    applied = await applier.apply(scenario, TENANT)
    assert applied.steps == 12
    patients = await get(client, "/v1/patient/list", headers=DECODA, params={"n": 100})
    made = [p for p in patients if str(p.get("externalUserId")).startswith("ext-")]
    assert sorted(p["externalUserId"] for p in made) == [f"ext-{n}" for n in range(6)]
    assert len({p["firstName"] for p in made}) > 1, "each round draws anew"
    # The latest round's answer is the one kept.
    assert applied.named["patient"]["externalId"] == "ext-5"


async def test_the_same_seed_and_tenant_draw_the_same_values(app: Starlette) -> None:
    def names(seed: int) -> Any:
        body = {"firstName": "${fake.first_name}", "lastName": "${fake.last_name}"}
        step = {"name": "p", "call": "POST /user/patient/create", "body": body}
        return decoda({"repeat": 3, "steps": [step]}, seed=seed)

    async def drawn(seed: int, tenant: str) -> tuple[str, str]:
        applied = await Applier(app).apply(names(seed), tenant)
        return applied.named["p"]["firstName"], applied.named["p"]["lastName"]

    first = await drawn(9, "one.test")
    assert await drawn(9, "one.test") == first  # drawn again for the tenant, which holds more now
    assert await drawn(9, "two.test") != first
    assert await drawn(10, "one.test") != first


async def test_control_steps(applier: Applier, client: httpx.AsyncClient) -> None:
    scenario = written(
        """
        scenario: 1
        name: controlled
        apis: [decoda]
        steps:
          - name: failed
            control: POST /decoda/payments/pay_sandbox_0001/fail
            body: {reason: "R01: insufficient funds"}
          - name: rule
            control: POST /_sandbox/faults
            body:
              match: {tenant: "${tenant}", operationId: createCharge}
              effect: {status: 503}
              count: 1
          - control: PUT /rate-limits
            body: {decoda: {requests: 100, perSeconds: 10}}
          - name: reference
            control: GET /reference/decoda
          - call: GET /v1/patient/${reference.patients[0].id}
        """
    )
    applied = await applier.apply(scenario, TENANT)
    assert applied.named["failed"]["status"] == "FAILED"
    payment = await get(
        client,
        f"/_sandbox/tenants/{TENANT}/records/decoda",
        params={"kind": "payments", "q": "pay_sandbox_0001"},
    )
    assert payment["records"][0]["status"] == "FAILED"
    faults = await get(client, "/_sandbox/faults")
    assert [rule["id"] for rule in faults["faults"]] == [applied.named["rule"]["id"]]
    assert faults["faults"][0]["match"]["tenant"] == TENANT
    limits = await get(client, f"/_sandbox/tenants/{TENANT}/rate-limits")
    assert limits["limits"]["decoda"] == {
        "limit": {"requests": 100, "perSeconds": 10},
        "source": "tenant",
    }


async def test_every_api_signs_in_as_the_tenant(
    applier: Applier, client: httpx.AsyncClient
) -> None:
    scenario = written(
        """
        scenario: 1
        name: three-apis
        apis: [candid, decoda, mycure]
        steps:
          - name: write_off
            api: candid
            call: POST /api/write-offs/v1
            body:
              write_offs:
                - type: patient
                  write_off_timestamp: "${now - 1d}"
                  write_off_reason: SMALL_BALANCE
                  service_line_id: 5e1f0000-0000-4000-8000-000000000001
                  amount_cents: 1250
          - clock: {advance: 6h}
          - name: again
            api: candid
            call: GET /api/write-offs/v1/${write_off.write_offs[0].write_off_id}
          - name: soa
            api: mycure
            call: POST /billing-soas
            body:
              facility: 5eb00000000000000000fa01
              type: organization
              customer: 5eb00000000000000000c001
          - api: decoda
            call: GET /billing/charge/list
        """
    )
    applied = await applier.apply(scenario, TENANT)
    # The Candid token of the first step expired with the clock's 6 hours: a new one was got.
    assert applied.named["again"]["amount_cents"] == 1250
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": TENANT, "client_secret": "s"}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    write_off_id = applied.named["write_off"]["write_offs"][0]["write_off_id"]
    await get(client, f"/api/write-offs/v1/{write_off_id}", headers=headers)
    # MYCURE's record belongs to the tenant's organisation (the sign-in's email domain).
    signed = await client.post(
        "/authentication", json={"strategy": "local", "email": f"ana@{TENANT}", "password": "x"}
    )
    bearer = {"Authorization": f"Bearer {signed.json()['accessToken']}"}
    await get(client, f"/billing-soas/{applied.named['soa']['id']}", headers=bearer)


async def test_a_refused_step_is_reported(applier: Applier) -> None:
    repeat = {
        "repeat": 3,
        "as": "n",
        "steps": [
            {"name": "patient", "call": "POST /user/patient/create", "body": {}},
            {
                "name": "charge",
                "call": CHARGE,
                "body": {"patientId": "pat_${n}", "totalOutstanding": 5},
            },
        ],
    }
    scenario = decoda({"call": "GET /billing/charge/list"}, repeat)
    with pytest.raises(StepFailed) as failed:
        await applier.apply(scenario, TENANT)
    error = failed.value
    assert (error.index, error.name, error.location, error.loop) == (
        2,
        "charge",
        "steps[1].steps[1]",
        {"n": 0},
    )
    assert error.request == {
        "method": "POST",
        "path": CHARGE.split(" ")[1],
        "query": {},
        "body": {"patientId": "pat_0", "totalOutstanding": 5},
    }
    assert error.answer is not None and error.answer["status"] == 404
    assert "pat_0" in str(error.answer["body"]["detail"])
    assert error.rolled_back is True
    assert str(error).startswith(
        "step 2 (steps[1].steps[1], n=0, named 'charge') failed: POST "
        "/billing/payment-terminal/charge/create answered 404: "
    )
    as_json = error.as_json()
    assert as_json["error"] == "StepFailed" and as_json["rolledBack"] is True


async def test_an_answer_without_the_field_fails_its_step(applier: Applier) -> None:
    scenario = decoda(
        {"name": "patient", "call": "POST /user/patient/create", "body": {}},
        {"call": CHARGE, "body": {"patientId": "${patient.nope}", "totalOutstanding": 5}},
    )
    with pytest.raises(StepFailed) as failed:
        await applier.apply(scenario, TENANT)
    assert failed.value.answer is None
    assert failed.value.reason.startswith(
        "${patient.nope}: the answer of step 'patient' has no field 'nope'"
    )
    assert str(failed.value).startswith("step 1 (steps[1]) failed before it was sent: ")


async def test_a_scenario_that_does_not_fit_its_specs_never_runs(
    applier: Applier, client: httpx.AsyncClient
) -> None:
    scenario = decoda(
        {"call": "POST /user/patient/create", "body": {}},
        {"call": CHARGE, "body": {"patientId": PATIENT, "totalOutstanding": "x"}},
    )
    with pytest.raises(ScenarioInvalid) as refused:
        await applier.apply(scenario, TENANT)
    assert [p.location for p in refused.value.problems] == ["steps[1].body.totalOutstanding"]
    tenants = await get(client, "/_sandbox/tenants")
    assert TENANT not in [tenant["id"] for tenant in tenants["tenants"]]


async def test_with_a_control_token() -> None:
    app = create_app(
        Settings(control_token="sesame"), clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    scenario = decoda({"clock": {"advance": "1d"}}, {"call": "GET /billing/charge/list"})
    applied = await Applier(app, "sesame").apply(scenario, TENANT)
    assert applied.steps == 2
    with pytest.raises(RuntimeError, match="401"):
        await Applier(app).apply(scenario, TENANT)


async def test_a_mapping_in_and_json_out(applier: Applier) -> None:
    listed = {"name": "list", "call": "GET /v1/patient/list", "query": {"n": 2}}
    scenario = load_scenario(document(listed))
    applied = await applier.apply(scenario, TENANT)
    shown = applied.as_json()
    assert shown["tenant"] == TENANT and shown["steps"] == 1
    assert len(shown["named"]["list"]) == 2
