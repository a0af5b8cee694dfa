"""What production answers on a bad day, declared on every operation and injectable: 429 in the
vendor's envelope with `Retry-After`, and the gateway's 502, 503 and 504."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import pytest
import yaml

from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, auth
from tests.decoda.helpers import creds
from tests.mycure.helpers import bearer

pytestmark = pytest.mark.anyio

SPECS = ("candid-write-offs", "decoda-billing", "mycure-billing-soas")
EDGE = ("429", "502", "503", "504")
METHODS = {"get", "put", "post", "patch", "delete"}


def spec(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((Settings().specs_dir / f"{name}.yaml").read_text())
    return loaded


@pytest.mark.parametrize("name", SPECS)
def test_every_vendor_operation_declares_the_bad_day_answers(name: str) -> None:
    document = spec(name)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                missing = set(EDGE) - set(operation["responses"])
                assert not missing, f"{method.upper()} {path} does not declare {missing}"
    limited = document["components"]["responses"]["RateLimited"]
    assert "Retry-After" in limited["headers"]


async def _vendor_calls(client: httpx.AsyncClient) -> dict[str, tuple[str, dict[str, str]]]:
    """One read per API: its URL and headers."""
    return {
        "candid-write-offs": (WRITE_OFFS, await auth(client)),
        "decoda-billing": ("/billing/charge/list", creds()),
        "mycure-billing-soas": ("/billing-soas", await bearer(client)),
    }


def _declared(name: str, status: int) -> dict[str, Any]:
    """The response the spec declares for `status`, its `$ref` followed."""
    document = spec(name)
    declared = document["components"]["responses"]
    ref = {"429": "RateLimited", "502": "BadGateway", "503": "ServiceUnavailable",
           "504": "GatewayTimeout"}[str(status)]  # fmt: skip
    answer: dict[str, Any] = declared[ref]
    return answer


def _schema_validates(name: str, schema: dict[str, Any], body: Any) -> None:
    document = spec(name)
    whole = {**schema, "components": document["components"]}
    jsonschema_rs.validator_for(whole).validate(body)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_prefer_code_answers_each_bad_day_as_the_spec_declares_it(
    client: httpx.AsyncClient, status: int
) -> None:
    for name, (url, headers) in (await _vendor_calls(client)).items():
        response = await client.get(url, headers={**headers, "Prefer": f"code={status}"})
        assert response.status_code == status, (name, response.text)
        declared = _declared(name, status)
        media = response.headers["content-type"].split(";")[0]
        assert media in declared["content"], (name, media)
        if media == "text/plain":
            assert response.text.startswith(f"{status} "), response.text
        else:
            _schema_validates(name, declared["content"][media]["schema"], response.json())
        if status == 429:
            assert response.headers["retry-after"] == "1"


async def test_a_503_is_the_gateways_plain_text_except_where_the_vendor_answers_it(
    client: httpx.AsyncClient,
) -> None:
    calls = await _vendor_calls(client)
    answers = {}
    for name, (url, headers) in calls.items():
        response = await client.get(url, headers={**headers, "Prefer": "code=503"})
        answers[name] = response
    assert answers["decoda-billing"].text == "503 Service Unavailable\n"
    assert answers["mycure-billing-soas"].text == "503 Service Unavailable\n"
    candid = answers["candid-write-offs"].json()
    assert candid["errorName"] == "HttpServiceUnavailableError"


async def test_a_fault_rule_can_answer_a_gateway_timeout(client: httpx.AsyncClient) -> None:
    rule = {"match": {"api": "decoda"}, "effect": {"status": 504}, "count": 1}
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    first = await client.get("/billing/charge/list", headers=creds())
    second = await client.get("/billing/charge/list", headers=creds())
    assert (first.status_code, first.text) == (504, "504 Gateway Timeout\n")
    assert second.status_code == 200
