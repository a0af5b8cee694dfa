"""A fault rule that can never fire is refused when it is made (422, saying why); one that can
is kept, whatever else it names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

NEVER = "this fault rule can never fire: "


async def refused(client: httpx.AsyncClient, match: dict[str, Any], **effect: Any) -> str:
    """The message of the 422 the rule gets; and nothing was added."""
    response = await client.post("/_sandbox/faults", json={"match": match, "effect": effect})
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "Unprocessable"
    assert (await client.get("/_sandbox/faults")).json() == {"faults": []}
    message: str = body["message"]
    assert message.startswith(NEVER)
    return message.removeprefix(NEVER)


async def test_an_unknown_operation_is_refused_naming_the_closest_of_its_api(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"api": "decoda", "operationId": "createCharg"}, status=500)
    assert said == (
        "decoda has no operation createCharg; the closest: createCharge, createChargeV1 or "
        "getCharge"
    )


async def test_an_unknown_operation_of_no_named_api_names_each_close_ones_api(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"operationId": "getWriteOfs"}, status=500)
    assert said.startswith("no API has an operation getWriteOfs; the closest: ")
    assert "getWriteOffs (candid)" in said


async def test_an_operation_mistyped_in_case_only_is_still_found_close(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"api": "candid", "operationId": "GETWRITEOFFS"}, status=500)
    assert said.startswith("candid has no operation GETWRITEOFFS; the closest: getWriteOffs")


async def test_an_operation_nothing_is_close_to_is_refused_saying_so(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"api": "mycure", "operationId": "zzz"}, drop=True)
    assert said == (
        "mycure has no operation zzz, nor one close to it; each API's spec lists its own "
        "(GET / links them)"
    )


async def test_another_apis_operation_is_refused_naming_its_api(client: httpx.AsyncClient) -> None:
    said = await refused(client, {"api": "candid", "operationId": "createCharge"}, status=500)
    assert said == "createCharge is an operation of decoda, not of candid"


async def test_a_status_the_operation_does_not_declare_is_refused_naming_those_it_does(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"operationId": "getWriteOffs"}, status=418)
    assert said == (
        "getWriteOffs does not declare 418; it declares 400, 401, 422, 429, 500, 502, 503, 504"
    )


async def test_a_status_none_of_the_matched_operations_declares_is_refused(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"api": "mycure", "path": "/billing-soas/abc"}, status=409)
    assert said == (
        "none of the 3 operations it matches declares 409; they declare 400, 401, 404, 429, "
        "500, 502, 503, 504"
    )


async def test_a_method_the_operation_is_not_called_with_is_refused(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"operationId": "createCharge", "method": "get"}, status=500)
    assert said == (
        "no operation has operationId createCharge and method GET; createCharge is "
        "POST /billing/payment-terminal/charge/create"
    )


async def test_a_path_no_operation_of_the_api_serves_is_refused(client: httpx.AsyncClient) -> None:
    said = await refused(client, {"api": "decoda", "path": "/nowhere"}, timeout=True)
    assert said == "no operation has api decoda and path /nowhere"


async def test_a_template_spelled_with_other_names_is_refused_naming_the_specs(
    client: httpx.AsyncClient,
) -> None:
    said = await refused(client, {"path": "/billing/charge/get/{charge_id}"}, status=500)
    assert said == (
        "no operation has path /billing/charge/get/{charge_id}; a template matches as the spec "
        "spells it: /billing/charge/get/{id}"
    )


@pytest.mark.parametrize(
    ("fires", "never"),
    [
        (({}, {"status": 503}), ({"api": "candid"}, {"status": 418})),
        # Decoda's installments (`settleInstallment`) fail on any status.
        (({"tenant": "acme"}, {"status": 418}), ({"api": "mycure"}, {"status": 418})),
        (({"operationId": "settleInstallment"}, {"status": 418}),
         ({"operationId": "settleInstalment"}, {"status": 418})),
        (({"operationId": "createCharge"}, {"status": 500}),
         ({"operationId": "createCharge", "method": "PUT"}, {"status": 500})),
        (({"path": "/billing-soas/abc", "method": "PATCH"}, {"status": 404}),
         ({"path": "/billing-soas/abc", "method": "PATCH"}, {"status": 409})),
        (({"path": "/billing/charge/get/{id}"}, {"status": 404}),
         ({"path": "/billing/charge/get/{chargeId}"}, {"status": 404})),
        (({"path": "/billing/charge/get/chg_1"}, {"delayMs": 5}),
         ({"path": "/billing/charge/got/chg_1"}, {"delayMs": 5})),
    ],
)  # fmt: skip
async def test_a_rule_is_refused_only_when_it_can_never_fire(
    client: httpx.AsyncClient,
    fires: tuple[dict[str, Any], dict[str, Any]],
    never: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Beside each rule that can fire, the nearest one that cannot."""
    no = await client.post("/_sandbox/faults", json={"match": never[0], "effect": never[1]})
    assert no.status_code == 422, no.text
    assert no.json()["message"].startswith(NEVER)
    made = await client.post("/_sandbox/faults", json={"match": fires[0], "effect": fires[1]})
    assert made.status_code == 201, made.text
    assert made.json()["match"] == fires[0]
    assert [rule["id"] for rule in (await client.get("/_sandbox/faults")).json()["faults"]] == [
        made.json()["id"]
    ]


async def test_an_effect_that_makes_no_sense_says_fault_rule(client: httpx.AsyncClient) -> None:
    effect = {"status": 503, "drop": True}
    response = await client.post("/_sandbox/faults", json={"effect": effect})
    assert response.status_code == 422
    assert response.json() == {
        "error": "Unprocessable",
        "message": "a fault rule answers one way, not status and drop",
    }
