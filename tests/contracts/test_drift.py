"""Drift from the consumer's side: a contract the sandbox wrote from a tenant's calls, checked by
`billing-sandbox contract check` against the spec changed the ways vendors change theirs (a field
removed, an enum narrowed, a parameter made required) names exactly the calls each change breaks,
and nothing against the spec as it is."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.contracts.command import main as contract
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CHARGE, PATIENT, creds

ROOT = Path(__file__).resolve().parents[2]
DECODA_SPEC = ROOT / "openapi" / "decoda-billing.yaml"
GET_CHARGE = "getCharge"
TIMELINE = "getChargeTimeline"
CREATE_PATIENT = "createPatient"
GET_PATIENT = "getPatient"

pytestmark = pytest.mark.anyio


@pytest.fixture
def app() -> Starlette:
    return create_app(Settings(journal_body_bytes=1 << 20))


@pytest.fixture
async def pact_file(app: Starlette, tmp_path: Path) -> Path:
    """A front desk's calls to Decoda, written down by the sandbox as a pact."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost", headers=creds()
    ) as client:
        calls = [
            await client.get(f"/billing/charge/get/{CHARGE}"),
            await client.get("/billing/charge/timeline", params={"charge_id": CHARGE}),
            await client.post("/user/patient/create", json={"firstName": "Ada", "lastName": "Ng"}),
            await client.get(f"/user/patient/{PATIENT}"),
        ]
        assert [call.status_code for call in calls] == [200] * 4, [c.text for c in calls]
        answer = await client.get(
            "/_sandbox/tenants/acme/pact",
            params={"consumer": "front-desk", "provider": "decoda-billing"},
        )
    path = tmp_path / "front-desk-decoda-billing.json"
    path.write_text(answer.text)
    return path


def changed_spec(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = yaml.safe_load(DECODA_SPEC.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "decoda-next.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def check(pact: Path, spec: Path, tmp_path: Path) -> tuple[int, set[str], str]:
    """The exit code, the operations of the interactions named, and what was printed."""
    out, err = io.StringIO(), io.StringIO()
    code = contract(["check", str(pact), "--spec", str(spec)], environ={}, out=out, err=err)
    printed = out.getvalue() + err.getvalue()
    interactions = json.loads(pact.read_text())["interactions"]
    named = {
        i["comments"]["billing-sandbox"]["operationId"]
        for i in interactions
        if i["description"] in printed
    }
    return code, named, printed


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"]
    return found


def remove_first_name(document: dict[str, Any]) -> None:
    del schemas(document)["PatientSummary"]["properties"]["firstName"]


def narrow_charge_status(document: dict[str, Any]) -> None:
    schemas(document)["ChargeStatus"]["enum"].remove("OUTSTANDING")


def require_payment_id(document: dict[str, Any]) -> None:
    timeline = document["paths"]["/billing/charge/timeline"]["get"]
    for parameter in timeline["parameters"]:
        if parameter.get("name") == "payment_id":
            parameter["required"] = True


async def test_the_spec_as_it_is_breaks_none_of_the_calls(pact_file: Path, tmp_path: Path) -> None:
    code, named, printed = check(pact_file, DECODA_SPEC, tmp_path)
    assert (code, named) == (0, set()), printed


@pytest.mark.parametrize(
    ("change", "broken", "said"),
    [
        # Every answer that carries a patient (a charge embeds one), not the timeline.
        (remove_first_name, {GET_CHARGE, CREATE_PATIENT, GET_PATIENT}, "firstName"),
        (narrow_charge_status, {GET_CHARGE, TIMELINE}, "OUTSTANDING"),  # both show it
        (require_payment_id, {TIMELINE}, "payment_id"),
    ],
)
async def test_a_changed_spec_names_exactly_the_calls_it_breaks(
    pact_file: Path,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    broken: set[str],
    said: str,
) -> None:
    code, named, printed = check(pact_file, changed_spec(tmp_path, change), tmp_path)
    assert code == 1, printed
    assert named == broken, printed
    assert said in printed
