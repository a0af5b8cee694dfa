"""The control API: health, the served specs, and reference data."""

from __future__ import annotations

import httpx
import orjson
import pytest
import yaml

from tests.candid.helpers import (
    ADJUSTMENT,
    ERA_ADJUSTMENT,
    NON_INSURANCE_PAYER,
    PAYER,
    SERVICE_LINE,
)

pytestmark = pytest.mark.anyio


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "candid" in response.json()["apis"]


@pytest.mark.parametrize(
    "name", ["candid-write-offs", "decoda-billing", "mycure-billing-soas", "sandbox-control"]
)
async def test_specs_are_served_as_yaml_and_json(client: httpx.AsyncClient, name: str) -> None:
    as_yaml = await client.get(f"/_sandbox/openapi/{name}.yaml")
    as_json = await client.get(f"/_sandbox/openapi/{name}.json")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_json.headers["content-type"].startswith("application/json")
    assert yaml.safe_load(as_yaml.content) == orjson.loads(as_json.content)
    assert orjson.loads(as_json.content)["openapi"] == "3.1.0"


async def test_unknown_spec_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/openapi/nope.json")
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationFailed"


async def test_candid_reference_lists_what_valid_calls_need(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/tenants/acme/reference/candid")
    assert response.status_code == 200
    reference = response.json()
    line = next(s for s in reference["service_lines"] if s["service_line_id"] == SERVICE_LINE)
    assert line["claim_id"] and line["patient_external_id"] and line["billing_provider_id"]
    assert PAYER in {p["payer_uuid"] for p in reference["payers"]}
    assert NON_INSURANCE_PAYER in {
        p["non_insurance_payer_id"] for p in reference["non_insurance_payers"]
    }
    era = {
        a["adjustment_id"]: a["era_originated"] for a in reference["insurance_balance_adjustments"]
    }
    assert era[ADJUSTMENT] is False
    assert era[ERA_ADJUSTMENT] is True
    assert len(reference["service_lines"]) > 50


async def test_mycure_reference_lists_facilities_customers_and_accounts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/_sandbox/tenants/clinic-a.test/reference/mycure")
    assert response.status_code == 200
    reference = response.json()
    assert reference["organisation"] == "clinic-a.test"
    assert "5eb00000000000000000fa01" in {f["id"] for f in reference["facilities"]}
    customers = reference["customers"]
    assert "5eb00000000000000000c001" in {o["id"] for o in customers["organizations"]}
    assert "5eb00000000000000000cc01" in {c["id"] for c in customers["insuranceContracts"]}
    assert {a["email"] for a in reference["accounts"]} >= {"billing@clinic-a.test"}
    assert reference["invoices"] and reference["invoiceItems"]


async def test_reference_for_unknown_api_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/tenants/acme/reference/stripe")
    assert response.status_code == 422
