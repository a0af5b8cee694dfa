"""Our responses also validate against Decoda's own published response schemas.

The vendor's OpenAPI files live in ../shared/reference/vendor (beside the checkout, in CI too).
They are read as facts, never copied; this test only checks that a client generated from them
would accept what the sandbox sends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from billing_sandbox.spec.document import load_yaml
from tests.decoda.helpers import CHARGE, PART_PAID, PATIENT, PAYMENT, creds

pytestmark = pytest.mark.anyio
VENDOR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "vendor"
Check = Callable[[str, str, str, Any], None]


def load(name: str) -> dict[str, Any]:
    path = VENDOR / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the checkout")
        pytest.skip(f"{path} is not here (it is beside the checkout in CI)")
    document: dict[str, Any] = load_yaml(path.read_text())
    return document


@pytest.fixture(scope="module")
def vendor_specs() -> dict[str, dict[str, Any]]:
    return {
        "current": load("decoda-openapi-current.yaml"),
        "legacy": load("decoda-openapi-v1-legacy.yaml"),
    }


@pytest.fixture
def conforms(vendor_specs: dict[str, dict[str, Any]]) -> Check:
    def check(generation: str, path: str, method: str, body: Any) -> None:
        document = vendor_specs[generation]
        response = document["paths"][path][method]["responses"]["200"]
        schema = response["content"]["application/json"]["schema"]
        validator = jsonschema_rs.validator_for(
            {**schema, "components": document["components"]}, validate_formats=True
        )
        problems = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not problems, f"{method.upper()} {path} breaks the vendor schema: {problems[:5]}"

    return check


async def test_current_reads(client: httpx.AsyncClient, conforms: Check) -> None:
    async def get(url: str, **params: str) -> httpx.Response:
        return await client.get(url, params=params, headers=creds())

    conforms(
        "current",
        "/billing/charge/get/{id}",
        "get",
        (await get(f"/billing/charge/get/{PART_PAID}")).json(),
    )
    conforms("current", "/billing/charge/list", "get", (await get("/billing/charge/list")).json())
    events = (await get("/billing/charge/timeline", payment_id=PAYMENT)).json()
    conforms("current", "/billing/charge/timeline", "get", events)
    conforms(
        "current",
        "/user/patient/{patient_id}",
        "get",
        (await get(f"/user/patient/{PATIENT}")).json(),
    )


async def test_current_writes(client: httpx.AsyncClient, conforms: Check) -> None:
    async def post(url: str, body: Any, **params: str | int) -> httpx.Response:
        return await client.post(url, json=body, params=params, headers=creds())

    made = await post(
        "/billing/payment-terminal/charge/create", {"patientId": PATIENT, "totalOutstanding": 100}
    )
    conforms("current", "/billing/payment-terminal/charge/create", "post", made.json())
    patient = await post("/user/patient/create", {"firstName": "Vendor"})
    conforms("current", "/user/patient/create", "post", patient.json())
    adjustment = await post(
        "/billing/adjustment/create", {"chargeId": CHARGE, "amount": 5, "reason": "x"}
    )
    conforms("current", "/billing/adjustment/create", "post", adjustment.json())
    refund = await post(
        "/billing/payment/refund",
        {"paymentId": PAYMENT, "providerId": "p", "amount": 5, "reason": "OTHER"},
    )
    conforms("current", "/billing/payment/refund", "post", refund.json())
    payment = await post(
        "/billing/payment-terminal/charge/create-cash-settled",
        [{"id": CHARGE, "patientId": PATIENT, "totalOutstanding": 0}],
        payment_medium="CHECK",
        amount=5,
    )
    conforms(
        "current", "/billing/payment-terminal/charge/create-cash-settled", "post", payment.json()
    )


async def test_legacy_shapes(client: httpx.AsyncClient, conforms: Check) -> None:
    async def get(url: str) -> httpx.Response:
        return await client.get(url, headers=creds())

    conforms(
        "legacy",
        "/v1/charge/get/{charge_id}",
        "get",
        (await get(f"/v1/charge/get/{PART_PAID}")).json(),
    )
    conforms("legacy", "/v1/charge/list", "get", (await get("/v1/charge/list")).json())
    conforms(
        "legacy", "/v1/patient/{patient_id}", "get", (await get(f"/v1/patient/{PATIENT}")).json()
    )
    adjusted = await client.post(
        "/v1/charge/adjust", json={"chargeId": CHARGE, "amount": 5, "reason": "x"}, headers=creds()
    )
    conforms("legacy", "/v1/charge/adjust", "post", adjusted.json())
