"""Checking a scenario against the specs, offline: each problem found before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from billing_sandbox.app import load_specs
from billing_sandbox.scenarios import (
    Problem,
    Scenario,
    ScenarioInvalid,
    catalogue,
    check_scenario,
    load_scenario,
)
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec
from tests.scenarios.helpers import PATIENT, decoda, document

CHARGE = "POST /billing/payment-terminal/charge/create"
PATIENT_STEP = {"name": "patient", "call": "POST /user/patient/create", "body": {}}


@pytest.fixture(scope="module")
def specs() -> dict[str, Spec]:
    return load_specs(Settings())


def problems(scenario: Scenario, specs: dict[str, Spec]) -> dict[str, str]:
    return {p.location: p.message for p in check_scenario(scenario, specs)}


def test_a_scenario_that_fits_its_specs(specs: dict[str, Spec]) -> None:
    scenario = decoda(
        PATIENT_STEP,
        {
            "name": "charge",
            "call": CHARGE,
            "body": {"patientId": "${patient.id}", "totalOutstanding": 5000},
        },
        {"call": "GET /billing/charge/get/${charge.id}"},
        {"call": "GET /billing/charge/list", "query": {"limit": 5}},
        {"control": "POST /decoda/charges/${charge.id}/void"},
        {"clock": {"advance": "2d"}},
    )
    assert check_scenario(scenario, specs) == []


def test_a_wrong_body_field_type_is_caught(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": CHARGE, "body": {"patientId": PATIENT, "totalOutstanding": "lots"}})
    assert problems(scenario, specs) == {
        "steps[0].body.totalOutstanding": '"lots" is not of type "integer"'
    }


def test_a_missing_body_field_is_caught(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": CHARGE, "body": {"patientId": PATIENT}})
    assert problems(scenario, specs) == {"steps[0].body.totalOutstanding": "Field required"}


def test_a_field_inside_a_repeat_has_its_whole_place(specs: dict[str, Spec]) -> None:
    item = {"itemId": "x", "quantity": "2", "price": 100}
    body = {"patientId": PATIENT, "totalOutstanding": 100, "items": [item]}
    scenario = decoda({"repeat": 2, "steps": [{"call": CHARGE, "body": body}]})
    found = problems(scenario, specs)
    assert list(found) == ["steps[0].steps[0].body.items[0].quantity"]


def test_a_whole_float_is_an_integer_as_the_server_reads_it(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": CHARGE, "body": {"patientId": PATIENT, "totalOutstanding": 5000.0}})
    assert check_scenario(scenario, specs) == []


def test_a_template_is_checked_with_what_it_renders(specs: dict[str, Spec]) -> None:
    body = {"patientId": PATIENT, "totalOutstanding": "${fake.first_name}", "description": "${i}"}
    scenario = decoda({"repeat": 2, "steps": [{"call": CHARGE, "body": body}]})
    found = problems(scenario, specs)
    # A name is no integer; a round (a number where text is wanted) is no string either.
    assert set(found) == {
        "steps[0].steps[0].body.totalOutstanding",
        "steps[0].steps[0].body.description",
    }
    assert found["steps[0].steps[0].body.totalOutstanding"].endswith('is not of type "integer"')


def test_a_value_known_only_when_it_runs_is_left_out_alone(specs: dict[str, Spec]) -> None:
    body = {
        "patientId": "${patient.id}",
        "totalOutstanding": "${patient.balance}",
        "status": "NOPE",
    }
    scenario = decoda(PATIENT_STEP, {"call": CHARGE, "body": body})
    # The answers' fields are not known offline; the literal next to them still is.
    assert list(problems(scenario, specs)) == ["steps[1].body.status"]


def test_a_required_body_left_out(specs: dict[str, Spec]) -> None:
    assert problems(decoda({"call": CHARGE}), specs) == {
        "steps[0].body": "is required: the operation takes a request body"
    }


def test_a_body_where_none_is_taken(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": "GET /billing/charge/list", "body": {"a": 1}})
    assert problems(scenario, specs) == {
        "steps[0].body": "is not taken: the operation has no request body"
    }


def test_a_path_no_api_serves(specs: dict[str, Spec]) -> None:
    scenario = decoda(
        {"call": "POST /billing/charge/creat"}, {"call": "DELETE /user/patient/create"}
    )
    found = problems(scenario, specs)
    assert set(found) == {"steps[0].call", "steps[1].call"}
    assert found["steps[0].call"].startswith(
        "no operation of the decoda API serves POST /billing/charge/creat (the closest:"
    )


def test_a_path_of_another_api(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": "GET /api/write-offs/v1"})
    assert list(problems(scenario, specs)) == ["steps[0].call"]


def test_a_templated_segment_matches_any_value(specs: dict[str, Spec]) -> None:
    scenario = decoda(PATIENT_STEP, {"call": "GET /user/patient/${patient.id}"})
    assert check_scenario(scenario, specs) == []


def test_a_templated_segment_does_not_stretch_over_two(specs: dict[str, Spec]) -> None:
    scenario = decoda(PATIENT_STEP, {"call": "GET /user/${patient.id}"})
    assert list(problems(scenario, specs)) == ["steps[1].call"]


def test_a_query_parameter_of_the_wrong_type(specs: dict[str, Spec]) -> None:
    query = {"payment_medium": "CASH", "amount": "lots"}
    body = [{"id": "chg_sandbox_0001", "patientId": PATIENT, "totalOutstanding": 0}]
    call = "POST /billing/payment-terminal/charge/create-cash-settled"
    scenario = decoda({"call": call, "query": query, "body": body})
    assert list(problems(scenario, specs)) == ["steps[0].query.amount"]


def test_a_required_query_parameter_left_out(specs: dict[str, Spec]) -> None:
    body = [{"id": "chg_sandbox_0001", "patientId": PATIENT, "totalOutstanding": 0}]
    call = "POST /billing/payment-terminal/charge/create-cash-settled"
    scenario = decoda({"call": call, "query": {"amount": 100}, "body": body})
    assert problems(scenario, specs) == {"steps[0].query.payment_medium": "Field required"}


def test_a_query_written_as_numbers_and_booleans_travels_as_text(specs: dict[str, Spec]) -> None:
    # MYCURE's $limit is text ("#20" or "20"): a number written in YAML is sent as its text.
    scenario = load_scenario(
        document({"call": "GET /billing-soas", "query": {"$limit": 20}}, apis=("mycure",))
    )
    assert check_scenario(scenario, specs) == []


def test_a_literal_path_parameter_is_checked(specs: dict[str, Spec]) -> None:
    scenario = decoda({"control": "GET /records/stripe"})
    found = problems(scenario, specs)
    assert list(found) == ["steps[0].control"]
    assert found["steps[0].control"].startswith("the path parameter api ")


def test_a_control_path_the_control_api_does_not_serve(specs: dict[str, Spec]) -> None:
    scenario = decoda({"control": "POST /decoda/payments/pay_1/refund"})
    found = problems(scenario, specs)
    assert found["steps[0].control"].startswith(
        "no operation of the control API serves POST /_sandbox/tenants/${tenant}/decoda/payments/"
    )


@pytest.mark.parametrize(
    ("control", "refused"),
    [
        ("POST /_sandbox/reset", "resetAll"),
        ("PUT /_sandbox/state", "putState"),
        ("DELETE /_sandbox/faults", "clearFaults"),
        ("DELETE /_sandbox/requests", "clearRequests"),
        ("POST /scenarios", "applyScenario"),
    ],
)
def test_a_control_call_a_scenario_cannot_undo(
    specs: dict[str, Spec], control: str, refused: str
) -> None:
    step: dict[str, Any] = {"control": control}
    if control.startswith(("PUT", "POST /scenarios")):
        step["body"] = {"name": "x"} if "scenarios" in control else {}
    found = problems(decoda(step), specs)
    assert found["steps[0].control"].startswith(f"a scenario cannot call {refused}: it ")


def test_a_control_call_naming_another_tenant(specs: dict[str, Spec]) -> None:
    scenario = decoda({"control": "POST /_sandbox/tenants/other/reset"})
    found = problems(scenario, specs)
    assert found["steps[0].control"].startswith("names the tenant 'other': a scenario changes only")


def test_a_control_body_is_checked_too(specs: dict[str, Spec]) -> None:
    scenario = decoda({"control": "POST /_sandbox/faults", "body": {"effect": {"status": "x"}}})
    assert list(problems(scenario, specs)) == ["steps[0].body.effect.status"]


def test_a_clock_template_that_renders_no_instant(specs: dict[str, Spec]) -> None:
    scenario = decoda(
        {"clock": {"freeze": "${fake.first_name}"}}, {"clock": {"advance": "${today}"}}
    )
    assert set(problems(scenario, specs)) == {"steps[0].clock.freeze", "steps[1].clock.advance"}


def test_an_api_the_sandbox_does_not_serve(specs: dict[str, Spec]) -> None:
    scenario = decoda({"call": "GET /billing/charge/list"})
    without = {name: spec for name, spec in specs.items() if name != "decoda"}
    assert problems(scenario, without) == {"steps[0].call": "this sandbox serves no decoda API"}


def test_specs_may_be_keyed_by_their_own_names(specs: dict[str, Spec]) -> None:
    by_stem = {spec.name: spec for spec in specs.values()}
    scenario = decoda({"call": CHARGE, "body": {"patientId": PATIENT, "totalOutstanding": "x"}})
    assert list(problems(scenario, by_stem)) == ["steps[0].body.totalOutstanding"]


def test_the_shipped_packs_fit_their_specs(specs: dict[str, Spec]) -> None:
    packs = catalogue()
    assert packs, "the sandbox ships packs"
    found: list[Problem] = []
    for path in packs.values():
        found += check_scenario(load_scenario(path), specs)
    assert found == []


def test_given_the_specs_loading_lists_every_problem_at_once(specs: dict[str, Spec]) -> None:
    source = document(
        {"call": CHARGE, "body": {"patientId": PATIENT, "totalOutstanding": "${nope}"}},
        {"call": "POST /user/patient/create", "body": {"firstName": 7}},
        *[{"call": "GET /billing/charge/list"}] * 8,
        {"call": "GET /billing/charge/nowhere"},
    )
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(source, specs)
    # The file's own problem, once (not again as a body the spec refuses), then the specs', in
    # the file's order.
    assert [p.location for p in refused.value.problems] == [
        "steps[0].body.totalOutstanding",
        "steps[1].body.firstName",
        "steps[10].call",
    ]
    assert refused.value.problems[0].message.startswith("${nope}: no step")
