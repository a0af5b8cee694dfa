"""The control API's scenarios: the packs listed, one applied by name or whole, a 404 naming the
packs, a 422 naming a problem's place or the failed step (the tenant as it was), and the
write-ahead log keeping each step as the call it is, never the application itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from billing_sandbox.app import create_app
from billing_sandbox.scenarios import catalogue, load_scenario
from billing_sandbox.settings import Settings
from billing_sandbox.state import wal
from tests.decoda.helpers import creds

pytestmark = pytest.mark.anyio

APPLY = "/_sandbox/tenants/acme/scenarios"


def scenario(*steps: dict[str, Any], name: str = "two-patients") -> dict[str, Any]:
    return {"scenario": 1, "name": name, "apis": ["decoda"], "steps": list(steps)}


ADA = {"name": "ada", "call": "POST /user/patient/create", "body": {"firstName": "Ada"}}
GRACE = {"name": "grace", "call": "POST /user/patient/create", "body": {"firstName": "Grace"}}
# A charge on a patient no tenant has: the vendor answers 404.
NO_SUCH_PATIENT = {
    "name": "charge",
    "call": "POST /billing/payment-terminal/charge/create",
    "body": {"patientId": "pat_nobody", "totalOutstanding": 500},
}


async def patient(client: httpx.AsyncClient, patient_id: str, tenant: str = "acme") -> Any:
    return await client.get(f"/user/patient/{patient_id}", headers=creds(tenant))


# ---- GET /_sandbox/scenarios ----


async def test_the_shipped_packs_are_listed_with_what_each_is(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/scenarios")
    assert response.status_code == 200
    listed = response.json()["scenarios"]
    assert [pack["name"] for pack in listed] == list(catalogue())
    assert len(listed) >= 6
    for pack in listed:
        loaded = load_scenario(catalogue()[pack["name"]])
        assert pack == {
            "name": loaded.name,
            "description": loaded.description,
            "apis": list(loaded.apis),
            "steps": len(loaded.steps),
            "source": "shipped",
        }


async def test_a_scenarios_dir_adds_packs_and_lists_a_broken_one_with_its_problems(
    tmp_path: Path,
) -> None:
    (tmp_path / "our-clinic.yaml").write_text(yaml.safe_dump(scenario(ADA, name="our-clinic")))
    (tmp_path / "broken.yaml").write_text("scenario: 1\nname: broken\napis: [decoda]\nsteps: 3\n")
    app = create_app(Settings(scenarios_dir=tmp_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        listed = {
            p["name"]: p for p in (await client.get("/_sandbox/scenarios")).json()["scenarios"]
        }
        ours = listed["our-clinic"]
        assert (ours["source"], ours["apis"], ours["steps"]) == ("directory", ["decoda"], 1)
        assert listed["decoda-overdue-clinic"]["source"] == "shipped"
        assert listed["broken"]["source"] == "directory"
        assert listed["broken"]["problems"] and listed["broken"]["problems"][0].startswith("steps")
        applied = await client.post(APPLY, json={"name": "our-clinic"})
        assert applied.status_code == 200, applied.text
        refused = await client.post(APPLY, json={"name": "broken"})
        assert refused.status_code == 422
        assert refused.json()["error"] == "ScenarioInvalid"
        assert refused.json()["problems"][0]["location"] == "steps"


# ---- POST /_sandbox/tenants/{tenant}/scenarios ----


async def test_a_pack_applied_by_name_writes_its_records(client: httpx.AsyncClient) -> None:
    before = (await client.get("/_sandbox/tenants/acme/records/decoda?kind=patients")).json()
    response = await client.post(APPLY, json={"name": "decoda-front-desk-day"})
    assert response.status_code == 200, response.text
    applied = response.json()
    assert (applied["tenant"], applied["scenario"]) == ("acme", "decoda-front-desk-day")
    assert applied["steps"] >= len(load_scenario(catalogue()["decoda-front-desk-day"]).steps)
    after = (await client.get("/_sandbox/tenants/acme/records/decoda?kind=patients")).json()
    assert after["total"] > before["total"]


async def test_a_scenario_given_whole_is_applied_and_names_its_answers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(APPLY, json={"scenario": scenario(ADA, GRACE)})
    assert response.status_code == 200, response.text
    applied = response.json()
    assert applied["steps"] == 2
    assert set(applied["named"]) == {"ada", "grace"}
    made = await patient(client, applied["named"]["grace"]["id"])
    assert made.json()["firstName"] == "Grace"
    # Another tenant does not hold it.
    assert (await patient(client, applied["named"]["grace"]["id"], "globex")).status_code == 404


async def test_an_unknown_pack_is_a_404_naming_the_packs_there_are(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(APPLY, json={"name": "decoda-overdue"})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "UnknownScenario"
    assert body["available"] == list(catalogue())
    assert "no scenario pack is named 'decoda-overdue'" in body["message"]
    assert "decoda-overdue-clinic" in body["message"]


async def test_an_invalid_scenario_is_a_422_with_each_problem_in_its_place(
    client: httpx.AsyncClient,
) -> None:
    bad = scenario(ADA, {"call": "POST /user/patient/create", "body": {"firstName": 7}})
    response = await client.post(APPLY, json={"scenario": bad})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ScenarioInvalid"
    assert [p["location"] for p in body["problems"]] == ["steps[1].body.firstName"]
    assert body["message"].startswith("steps[1].body.firstName: ")
    journal = (await client.get("/_sandbox/requests?tenant=acme")).json()
    assert journal["requests"] == []  # refused before anything ran


async def test_a_failed_step_is_a_422_naming_it_and_the_tenant_is_as_it_was(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/_sandbox/tenants/acme/state")).json()
    response = await client.post(APPLY, json={"scenario": scenario(ADA, NO_SUCH_PATIENT)})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "StepFailed"
    assert (body["index"], body["name"], body["location"]) == (1, "charge", "steps[1]")
    assert body["request"]["path"] == "/billing/payment-terminal/charge/create"
    assert body["request"]["body"]["patientId"] == "pat_nobody"
    assert body["answer"]["status"] == 404
    assert body["rolledBack"] is True
    assert "named 'charge'" in body["message"]
    assert (await client.get("/_sandbox/tenants/acme/state")).json() == before


@pytest.mark.parametrize(
    "given",
    [{}, {"name": "decoda-overdue-clinic", "scenario": scenario(ADA)}, {"name": "Not A Name"}],
)
async def test_a_body_that_gives_not_exactly_a_name_or_a_scenario_is_refused(
    client: httpx.AsyncClient, given: dict[str, Any]
) -> None:
    response = await client.post(APPLY, json=given)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationFailed"


async def test_with_a_control_token_the_steps_carry_it_and_callers_need_it() -> None:
    app = create_app(Settings(control_token="s3cret"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        refused = await client.post(APPLY, json={"scenario": scenario(ADA)})
        assert refused.status_code == 401
        clocked = scenario(ADA, {"clock": {"advance": "1d"}})
        bearer = {"Authorization": "Bearer s3cret"}
        response = await client.post(APPLY, json={"scenario": clocked}, headers=bearer)
        assert response.status_code == 200, response.text
        clock = await client.get("/_sandbox/tenants/acme/clock", headers=bearer)
        assert clock.json()["frozen"] is False


# ---- the write-ahead log ----


@asynccontextmanager
async def durable(state_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A sandbox on `state_file`, no lifespan: dropping it is a kill; the next replays."""
    app = create_app(Settings(records=10, state_file=state_file))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client
    await app.state.courier.close()


def logged(state_file: Path) -> list[dict[str, Any]]:
    read = wal.read(state_file.with_name(state_file.name + ".log"))
    assert read is not None
    return read.records


async def test_each_step_is_logged_as_its_call_and_the_application_as_nothing(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    async with durable(state_file) as client:
        response = await client.post(APPLY, json={"scenario": scenario(ADA, GRACE)})
        assert response.status_code == 200, response.text
        before = (await client.get("/_sandbox/tenants/acme/state")).content
    records = logged(state_file)
    # The two calls, as a client's would be; no record of the tenant's whole state.
    assert [(r["t"], r.get("op")) for r in records] == [
        ("call", "createPatient"),
        ("call", "createPatient"),
    ]
    async with durable(state_file) as client:
        assert (await client.get("/_sandbox/tenants/acme/state")).content == before


async def test_a_failed_scenario_replays_to_the_tenant_as_it_was(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    async with durable(state_file) as client:
        kept = await client.post("/user/patient/create", json={"firstName": "Kept"},
                                 headers=creds())  # fmt: skip
        assert kept.status_code == 200, kept.text
        before = (await client.get("/_sandbox/tenants/acme/state")).content
        response = await client.post(APPLY, json={"scenario": scenario(ADA, NO_SUCH_PATIENT)})
        assert response.status_code == 422
        assert (await client.get("/_sandbox/tenants/acme/state")).content == before
    async with durable(state_file) as client:
        assert (await client.get("/_sandbox/tenants/acme/state")).content == before
        assert (await patient(client, kept.json()["id"])).status_code == 200
