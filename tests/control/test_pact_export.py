"""`GET /_sandbox/tenants/{t}/pact` and the provider-state endpoint: a tenant's calls as Pact v4
files (matching rules from the spec, scenarios as provider states, their steps and sign-ins left
out, a reset starting a new story) and Pact's state-change call answered by scenario packs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.control.handlers import pack_name
from billing_sandbox.observe import stories
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CHARGE, CREATE, PATIENT, creds

pytestmark = pytest.mark.anyio

PACT = "/_sandbox/tenants/acme/pact"
STATES = "/_sandbox/tenants/acme/provider-states"
FRONT_DESK = "decoda-front-desk-day"


async def decoda_pact(client: httpx.AsyncClient, consumer: str = "web") -> dict[str, Any]:
    response = await client.get(PACT, params={"consumer": consumer, "provider": "decoda-billing"})
    assert response.status_code == 200, response.text
    pact: dict[str, Any] = response.json()
    return pact


@pytest.fixture
def settings() -> Settings:
    """Whole answers in the journal (as the plugin asks for when it writes pacts)."""
    return Settings(journal_body_bytes=1 << 20)


def rules_of(interaction: dict[str, Any]) -> dict[str, Any]:
    body_rules: dict[str, Any] = interaction["response"]["matchingRules"]["body"]
    return {path: rule["matchers"][0] for path, rule in body_rules.items()}


async def test_a_call_becomes_a_v4_interaction_with_rules_from_the_spec(
    client: httpx.AsyncClient,
) -> None:
    answer = (await client.get(f"/billing/charge/get/{CHARGE}", headers=creds())).json()
    pact = await decoda_pact(client, consumer="front-desk-web")
    assert pact["consumer"] == {"name": "front-desk-web"}
    assert pact["provider"] == {"name": "decoda-billing"}
    assert pact["metadata"]["pactSpecification"] == {"version": "4.0"}
    [interaction] = pact["interactions"]
    assert interaction["type"] == "Synchronous/HTTP"
    assert interaction["request"] == {"method": "GET", "path": f"/billing/charge/get/{CHARGE}"}
    assert interaction["providerStates"] == []
    assert interaction["comments"]["billing-sandbox"]["story"] == "acme"
    response = interaction["response"]
    assert response["status"] == 200
    body = response["body"]["content"]
    assert body["id"] == answer["id"] == CHARGE
    # Fields the answer held as null are not expected (Pact cannot say "null or a string").
    assert all(value is not None for value in body.values())
    assert {k for k, v in answer.items() if v is None}.isdisjoint(body)
    rules = rules_of(interaction)
    assert rules["$"] == {"match": "type"}  # cascades: ids and amounts are not pinned
    assert rules["$.status"]["match"] == "regex"  # the enum, as a regex of its values
    assert "OUTSTANDING" in rules["$.status"]["regex"]
    assert rules["$.totalOutstanding"] == {"match": "integer"}
    assert rules["$.createdDate"]["match"] == "regex"  # a date-time, by its format


async def test_arrays_keep_one_item_that_every_item_is_matched_against(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get("/billing/charge/list", headers=creds())).json()
    assert len(listed) > 1
    [interaction] = (await decoda_pact(client))["interactions"]
    assert len(interaction["response"]["body"]["content"]) == 1
    assert "$[*].status" in rules_of(interaction)


async def test_a_scenario_is_the_provider_state_and_its_steps_are_left_out(
    client: httpx.AsyncClient,
) -> None:
    setup = await client.post(STATES, json={"state": FRONT_DESK, "action": "setup", "params": {}})
    assert setup.status_code == 200, setup.text
    values = setup.json()
    charge_id = values["copay.id"]
    assert charge_id.startswith("chg_")
    await client.get(f"/billing/charge/get/{charge_id}", headers=creds())
    pact = await decoda_pact(client)
    [interaction] = pact["interactions"]  # the scenario's own calls are not the consumer's
    assert interaction["providerStates"] == [{"name": FRONT_DESK, "params": {}}]
    # The charge the scenario made is named by the value's name, for the verifier to fill in.
    assert interaction["request"]["generators"]["path"] == {
        "type": "ProviderState",
        "expression": "/billing/charge/get/${copay.id}",
        "dataType": "STRING",
    }


async def test_a_reset_starts_a_new_story_without_the_scenarios_before_it(
    client: httpx.AsyncClient,
) -> None:
    await client.post(STATES, json={"state": FRONT_DESK})
    await client.get("/billing/charge/list", headers=creds())
    torn_down = await client.post(STATES, json={"state": FRONT_DESK, "action": "teardown"})
    assert (torn_down.status_code, torn_down.json()) == (200, {})
    await client.get(f"/user/patient/{PATIENT}", headers=creds())
    first, second = (await decoda_pact(client))["interactions"]
    assert [s["name"] for s in first["providerStates"]] == [FRONT_DESK]
    assert second["providerStates"] == []
    first_story = first["comments"]["billing-sandbox"]["story"]
    second_story = second["comments"]["billing-sandbox"]["story"]
    assert first_story == "acme"
    assert second_story != first_story and second_story.startswith("acme#")


async def test_writes_keep_their_body_and_descriptions_stay_unique(
    client: httpx.AsyncClient,
) -> None:
    sent = {"patientId": PATIENT, "totalOutstanding": 2500}
    for _ in range(2):
        created = await client.post(CREATE, json=sent, headers=creds())
        assert created.status_code == 200, created.text
    first, second = (await decoda_pact(client))["interactions"]
    assert first["request"]["body"]["content"] == sent
    assert first["request"]["headers"] == {"Content-Type": "application/json"}
    assert first["description"] != second["description"]
    assert second["description"].endswith("(#2)")


async def test_sign_ins_are_left_out_and_each_provider_gets_its_pact(
    client: httpx.AsyncClient,
) -> None:
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "s3cret"}
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/api/write-offs/v1", headers=bearer)).status_code == 200
    await client.get("/billing/charge/list", headers=creds())
    whole = (await client.get(PACT)).json()
    by_provider = {p["provider"]["name"]: p for p in whole["pacts"]}
    assert set(by_provider) == {"candid-write-offs", "decoda-billing"}
    candid = by_provider["candid-write-offs"]["interactions"]
    assert [i["request"]["path"] for i in candid] == ["/api/write-offs/v1"]
    assert "s3cret" not in str(whole)
    assert by_provider["decoda-billing"]["consumer"] == {"name": "consumer"}


async def test_an_answer_the_journal_cut_is_expected_without_a_body_and_said() -> None:
    small = create_app(Settings(journal_body_bytes=512))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small), base_url="http://localhost"
    ) as cut:
        await cut.get("/billing/charge/list", headers=creds())
        pact = await decoda_pact(cut)
    [interaction] = pact["interactions"]
    assert interaction["response"] == {"status": 200}
    [note] = pact["metadata"]["billing-sandbox"]["notes"]
    assert "its answer was cut in the journal" in note


async def test_nothing_to_write_down_is_a_404_saying_why(client: httpx.AsyncClient) -> None:
    response = await client.get(PACT)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
    assert "no vendor call of tenant 'acme'" in response.json()["message"]
    await client.get("/billing/charge/list", headers=creds())
    other = await client.get(PACT, params={"provider": "mycure-billing-soas"})
    assert other.status_code == 404
    assert "it called: decoda-billing" in other.json()["message"]


async def test_an_unknown_provider_or_empty_consumer_is_refused(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/billing/charge/list", headers=creds())
    assert (await client.get(PACT, params={"provider": "stripe"})).status_code == 422
    assert (await client.get(PACT, params={"consumer": ""})).status_code == 422


async def test_an_unknown_state_is_a_404_naming_the_packs(client: httpx.AsyncClient) -> None:
    response = await client.post(STATES, json={"state": "a charge exists", "action": "setup"})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "UnknownScenario"
    assert "a-charge-exists" in body["message"]
    assert FRONT_DESK in body["available"]


async def test_the_state_can_come_in_the_query_and_a_stateless_setup_does_nothing(
    client: httpx.AsyncClient,
) -> None:
    by_query = await client.post(STATES, params={"state": FRONT_DESK, "action": "setup"})
    assert by_query.status_code == 200 and "copay.id" in by_query.json()
    assert (await client.post(STATES, json={"action": "setup"})).json() == {}
    refused = await client.post(STATES, json={"state": FRONT_DESK, "action": "destroy"})
    assert refused.status_code == 422


def test_a_state_sentence_names_a_pack() -> None:
    assert pack_name("A patient with an open charge!") == "a-patient-with-an-open-charge"
    assert pack_name(FRONT_DESK) == FRONT_DESK


async def test_provider_states_survive_a_restart_on_a_state_file(tmp_path: Path) -> None:
    """A setup's steps are logged as the calls they are (and the tenant as they left it), a
    teardown as the reset it is: a kill after either replays to the same tenant."""
    state_file = tmp_path / "state.json"

    @asynccontextmanager
    async def durable() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(Settings(state_file=state_file))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield c
        await app.state.courier.close()  # no lifespan: dropping the app is a kill

    async with durable() as client:
        fresh = (await client.get("/_sandbox/tenants/acme/state")).json()
        setup = await client.post(STATES, json={"state": FRONT_DESK, "action": "setup"})
        assert setup.status_code == 200, setup.text
        after_setup = (await client.get("/_sandbox/tenants/acme/state")).json()
    async with durable() as client:
        assert (await client.get("/_sandbox/tenants/acme/state")).json() == after_setup
        copay = setup.json()["copay.id"]
        assert (
            await client.get(f"/billing/charge/get/{copay}", headers=creds())
        ).status_code == 200
        await client.post(STATES, json={"state": FRONT_DESK, "action": "teardown"})
    async with durable() as client:
        assert (await client.get("/_sandbox/tenants/acme/state")).json() == fresh


async def test_a_state_change_body_is_read_only_to_a_record_s_size(
    client: httpx.AsyncClient,
) -> None:
    """Only snapshots and whole scenarios may be as large as a snapshot; a state change is a
    few hundred bytes, so a 2 MiB one is refused before it is parsed."""
    padded = b'{"state": "", "params": {"x": "' + b"a" * (2 << 20) + b'"}}'
    response = await client.post(
        STATES, content=padded, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].endswith("the sandbox accepts at most 1048576")


async def test_calls_before_a_forgotten_scenario_are_left_out_and_said(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stories, "_PER_TENANT", 3)  # a tenant's story keeps 100: 3 is quicker
    one_step = {
        "scenario": 1,
        "name": "one-patient",
        "apis": ["decoda"],
        "steps": [{"call": "POST /user/patient/create", "body": {"firstName": "Ada"}}],
    }
    for _ in range(4):  # one more than a tenant's story keeps
        applied = await client.post("/_sandbox/tenants/acme/scenarios", json={"scenario": one_step})
        assert applied.status_code == 200, applied.text
    await client.get("/billing/charge/list", headers=creds())
    pact = await decoda_pact(client)
    # The first application's step is not taken for a call of the consumer's.
    assert [i["request"]["path"] for i in pact["interactions"]] == ["/billing/charge/list"]
    assert len(pact["interactions"][0]["providerStates"]) == 3
    [note] = pact["metadata"]["billing-sandbox"]["notes"]
    assert note.startswith("1 earlier requests are left out")


async def test_a_state_with_nothing_to_name_a_pack_by_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post(STATES, json={"state": "!!!", "action": "setup"})
    assert response.status_code == 404
    assert response.json()["message"] == (
        "the state '!!!' has no letter or digit to name a scenario pack by"
    )
    assert FRONT_DESK in response.json()["available"]
