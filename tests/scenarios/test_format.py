"""Loading a scenario: what the format accepts, and each kind of bad file refused, and where."""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from billing_sandbox.scenarios import Scenario, ScenarioInvalid, load_scenario
from billing_sandbox.scenarios.model import Call, Clock, Control, Repeat
from billing_sandbox.scenarios.templates import Static
from tests.scenarios.helpers import PATIENT, document, refusal

GOOD = """\
    scenario: 1
    name: overdue-clinic
    description: One patient, one charge.
    apis: [decoda]
    seed: 7
    steps:
      - clock: {freeze: "${now - 30d}"}
      - name: patient
        call: POST /user/patient/create
        body: {firstName: "${fake.first_name}", dateOfBirth: 1986-12-09}
      - name: charge
        call: POST /billing/payment-terminal/charge/create
        body: {patientId: "${patient.id}", totalOutstanding: 5000}
      - repeat: 3
        as: n
        steps:
          - call: POST /billing/adjustment/create
            body: {chargeId: "${charge.id}", amount: -100, reason: "round ${n}"}
      - control: POST /decoda/charges/${charge.id}/void
      - control: GET /_sandbox/faults
"""


def test_a_file_loads_into_its_steps(tmp_path: Path) -> None:
    path = tmp_path / "overdue-clinic.yaml"
    path.write_text(textwrap.dedent(GOOD))
    scenario = load_scenario(path)
    assert (scenario.name, scenario.apis, scenario.seed) == ("overdue-clinic", ("decoda",), 7)
    assert [type(step) for step in scenario.steps] == [Clock, Call, Call, Repeat, Control, Control]
    assert scenario.size == 8  # the repeat's one step three times, and five others
    void, faults = scenario.steps[4], scenario.steps[5]
    assert isinstance(void, Control) and isinstance(faults, Control)
    # A control path is the tenant's unless it begins with /_sandbox.
    assert (
        void.request.path.written == "/_sandbox/tenants/${tenant}/decoda/charges/${charge.id}/void"
    )
    assert faults.request.path.written == "/_sandbox/faults"


def test_text_bytes_json_and_a_mapping_load_alike() -> None:
    text = textwrap.dedent(GOOD)
    from_text = load_scenario(text)
    assert load_scenario(text.encode()).document == from_text.document
    json_text = '{"scenario": 1, "name": "x", "apis": ["decoda"], "steps": [{"call": "GET /x"}]}'
    assert load_scenario(json_text).name == "x"
    assert load_scenario(dict(from_text.document)).document == from_text.document


def test_a_bare_date_stays_text() -> None:
    scenario = load_scenario(textwrap.dedent(GOOD))
    patient = scenario.steps[1]
    assert isinstance(patient, Call) and patient.request.body is not None
    body = patient.request.body.render(_Fixed())
    assert body["dateOfBirth"] == "1986-12-09"


def test_a_mapping_given_is_copied() -> None:
    given = document({"call": "POST /user/patient/create", "body": {"firstName": "Ada"}})
    scenario = load_scenario(given)
    given["steps"][0]["body"]["firstName"] = "Grace"
    step = scenario.steps[0]
    assert isinstance(step, Call) and isinstance(step.request.body, Static)
    assert step.request.body.value == {"firstName": "Ada"}


def test_an_advance_written_as_a_duration_is_read_once() -> None:
    scenario = load_scenario(document({"clock": {"advance": "1d12h"}}))
    step = scenario.steps[0]
    assert isinstance(step, Clock) and step.value == Static(129_600)


# ---- refused, each with its place ----


def test_not_a_mapping() -> None:
    assert refusal("just words") == {
        "(file)": "a scenario is one mapping (scenario: 1, name: ...) (a str is read as the "
        "scenario's text; pass a Path to read a file)"
    }


def test_not_yaml_says_the_line() -> None:
    problems = refusal("scenario: 1\nname: [unclosed\n")
    assert list(problems) == ["line 3, column 1"]


def test_a_key_given_twice() -> None:
    text = (
        "scenario: 1\nname: a\nname: b\napis: [decoda]\nsteps: [{call: GET /billing/charge/list}]\n"
    )
    problems = refusal(text)
    assert problems == {"line 3, column 1": "is not YAML: the key 'name' is given twice"}


def test_what_json_cannot_carry() -> None:
    text = (
        "scenario: 1\nname: a\napis: [decoda]\nsteps:\n"
        "  - call: GET /x\n    body: {1: one, b: .inf, c: !!binary aGk=}\n"
    )
    assert refusal(text) == {
        "steps[0].body": "the key 1 is not text",
        "steps[0].body.b": "is not a number JSON can carry",
        "steps[0].body.c": "is not JSON (bytes)",
    }


def test_the_top_fields() -> None:
    problems = refusal(
        {"scenario": 2, "name": "Bad Name", "apis": ["stripe"], "steps": [], "extra": 1}
    )
    assert set(problems) == {"scenario", "name", "apis[0]", "steps", "extra"}
    assert problems["name"] == "is not a name: lower-case letters, digits and '-'"
    assert problems["extra"].startswith("is not a field of a scenario")


def test_required_top_fields_are_named() -> None:
    problems = refusal({"scenario": 1, "steps": [{"call": "GET /x"}]})
    assert problems == {"name": "is required in a scenario", "apis": "is required in a scenario"}


def test_an_unknown_step_kind() -> None:
    problems = refusal(
        document({"call": "GET /billing/charge/list"}, {"cal": "GET /x", "name": "a"})
    )
    assert problems == {
        "steps[1]": "unknown step kind: a step has call, control, clock or repeat; this one has "
        "cal (did you mean call?)"
    }


def test_two_kinds_at_once() -> None:
    problems = refusal(document({"call": "GET /x", "control": "GET /y"}))
    assert problems == {"steps[0]": "a step is one kind of step, not call and control at once"}


def test_a_field_a_step_does_not_have() -> None:
    problems = refusal(document({"call": "POST /user/patient/create", "bdy": {}}))
    assert problems == {"steps[0].bdy": "is not a field of a call step (did you mean body?)"}


def test_a_call_that_is_not_method_and_path() -> None:
    problems = refusal(document({"call": "FETCH /x"}, {"call": "GET /x?limit=5"}))
    assert set(problems) == {"steps[0].call", "steps[1].call"}
    assert "(query parameters go under `query`)" in problems["steps[1].call"]


def test_a_reference_to_no_step() -> None:
    problems = refusal(
        document(
            {"name": "patient", "call": "POST /user/patient/create"},
            {"call": "POST /v1/charge/create", "body": {"patientId": "${patinet.id}"}},
        )
    )
    assert problems == {
        "steps[1].body.patientId": "${patinet.id}: no step or loop variable is named 'patinet' "
        "(did you mean patient?)"
    }


def test_a_reference_to_a_later_step() -> None:
    problems = refusal(
        document(
            {"call": "POST /v1/charge/create", "body": {"patientId": "${patient.id}"}},
            {"name": "patient", "call": "POST /user/patient/create"},
        )
    )
    assert problems == {
        "steps[0].body.patientId": "${patient.id} refers to step 'patient' (steps[1]), which "
        "comes later: a step can use only the answers of steps before it (so references never "
        "form a cycle)"
    }


def test_a_reference_to_its_own_step() -> None:
    problems = refusal(document({"name": "charge", "call": "GET /billing/charge/get/${charge.id}"}))
    assert problems == {
        "steps[0].call": "${charge.id} refers to its own step: a step can use only earlier answers"
    }


def test_within_a_repeat_a_later_step_is_later_too() -> None:
    repeat = {
        "repeat": 2,
        "steps": [
            {"call": "GET /billing/charge/get/${charge.id}"},
            {"name": "charge", "call": "POST /v1/charge/create", "body": {"patientId": PATIENT}},
        ],
    }
    problems = refusal(document(repeat))
    assert list(problems) == ["steps[0].steps[0].call"]
    assert "comes later" in problems["steps[0].steps[0].call"]


def test_a_name_used_twice() -> None:
    repeat = {"repeat": 2, "steps": [{"name": "patient", "call": "POST /user/patient/create"}]}
    problems = refusal(document({"name": "patient", "call": "POST /user/patient/create"}, repeat))
    assert problems == {"steps[1].steps[0].name": "the name 'patient' is taken by steps[0]"}


def test_a_reserved_name() -> None:
    problems = refusal(document({"name": "now", "call": "POST /user/patient/create"}))
    assert problems == {
        "steps[0].name": "is a word templates keep for themselves (tenant, now, today, fake)"
    }


def test_a_loop_variable_is_not_taken_twice() -> None:
    inner = {"repeat": 2, "steps": [{"call": "GET /billing/charge/list"}]}
    problems = refusal(document({"repeat": 2, "steps": [inner]}))
    assert problems == {
        "steps[0].steps[0].as": "'i' is already the loop variable of a repeat around this one: "
        "name this one's with as:"
    }


def test_a_loop_variable_is_not_a_step_name() -> None:
    repeat = {"repeat": 2, "as": "n", "steps": [{"call": "GET /billing/charge/list"}]}
    named = {"name": "n", "call": "POST /user/patient/create"}
    problems = refusal(document(repeat, named))
    assert problems == {"steps[0].as": "the loop variable 'n' is also a step's name (steps[1])"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${upper(x)}", "${upper(x)}: there is no function 'upper'"),
        ("${now - 30x}", "${now - 30x}: '30x' is not a duration"),
        ("${now * 2}", "${now * 2}: after now, only + or - a duration"),
        ("${today - 2h}", "${today - 2h}: today moves by whole days (d)"),
        ("${fake.frist_name}", "${fake.frist_name}: 'frist_name' is not a Faker provider a "
         "scenario can use (did you mean fake.first_name"),
        ("${fake.date_of_birth}", "(its values depend on the day or the machine"),
        ("${fake.seed_instance}", "'seed_instance' is not a Faker provider"),
        ("${fake._secret}", "is not a Faker provider"),
        ("${fake.binary}", "(its values are not JSON)"),
        ("${now - 30000d - 30000d}", "moves the clock by more than a century"),
        ("${now - 40000d}", "'40000d' is longer than a century"),
        ("before ${now", "'${' at character 7 is never closed with '}'"),
        ("${}", "'${}' is empty"),
        ("${Patient}", "${Patient} cannot be read"),
        ("${i.x}", "no step or loop variable is named 'i'"),
    ],
)  # fmt: skip
def test_a_template_error(value: str, message: str) -> None:
    problems = refusal(document({"call": "POST /user/patient/create", "body": {"a": [value]}}))
    assert list(problems) == ["steps[0].body.a[0]"]
    assert message in problems["steps[0].body.a[0]"]


def test_a_loop_variable_has_no_fields() -> None:
    repeat = {"repeat": 2, "steps": [{"call": "GET /x/${i.id}"}]}
    problems = refusal(document(repeat))
    assert problems == {
        "steps[0].steps[0].call": "${i.id}: the loop variable 'i' is a number, with no fields"
    }


def test_a_repeat_over_the_cap() -> None:
    problems = refusal(document({"repeat": 10_001, "steps": [{"call": "GET /x"}]}))
    assert list(problems) == ["steps[0].repeat"]


def test_repeats_that_send_too_many_requests_in_all() -> None:
    inner = {"repeat": 1_000, "as": "j", "steps": [{"call": "GET /x"}, {"call": "GET /y"}]}
    problems = refusal(document({"call": "GET /x"}, {"repeat": 60, "steps": [inner]}))
    assert problems == {
        "steps[1].repeat": "the scenario sends 120001 requests with its repeats unrolled; "
        "at most 100000 (this repeat sends 120000)"
    }


def test_the_api_of_a_call_when_several_are_used() -> None:
    steps = ({"call": "GET /billing/charge/list"}, {"call": "GET /x", "api": "candid"})
    problems = refusal(document(*steps, apis=("decoda", "mycure")))
    assert problems == {
        "steps[0].api": "is required: the scenario calls more than one API (decoda, mycure)",
        "steps[1].api": "'candid' is not one of the scenario's apis (decoda, mycure)",
    }


@pytest.mark.parametrize(
    ("clock", "location", "message"),
    [
        ({"freeze": "yesterday"}, "steps[0].clock.freeze", "'yesterday' is not an instant"),
        ({"freeze": "2026-01-31T09:00:00"}, "steps[0].clock.freeze", "is not an instant"),
        ({"advance": "3 days"}, "steps[0].clock.advance", "'3 days' is not a duration"),
        ({"advance": -5}, "steps[0].clock.advance", "less than the minimum of 0"),
        ({"freeze": "${now}", "resume": True}, "steps[0].clock", "has more than 1 property"),
        ({"rewind": "1d"}, "steps[0].clock.rewind", "is not a field of a clock step"),
    ],
)
def test_a_clock_step(clock: dict[str, object], location: str, message: str) -> None:
    problems = refusal(document({"clock": clock}))
    assert list(problems) == [location]
    assert message in problems[location]


def test_every_problem_is_listed_at_once() -> None:
    problems = refusal(
        document(
            {"name": "a", "call": "POST /user/patient/create", "body": {"x": "${nope}"}},
            {"name": "a", "call": "POST /user/patient/create", "body": {"y": "${now - 1y}"}},
        )
    )
    assert set(problems) == {"steps[0].body.x", "steps[1].name", "steps[1].body.y"}


def test_a_problem_reads_as_location_and_message() -> None:
    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(document({"name": "now", "call": "GET /x"}))
    assert str(refused.value.problems[0]).startswith("steps[0].name: is a word")
    assert str(refused.value) == str(refused.value.problems[0])


class _Fixed:
    """A context for rendering what holds no template but text."""

    tenant = "t"

    def loop(self, name: str) -> int:
        return 0

    def reference(self, ref: object) -> object:
        raise AssertionError("no reference here")

    def now(self) -> datetime:
        raise AssertionError("no clock here")

    def fake(self, provider: str) -> object:
        return "Ada"


def test_the_loaded_scenario_is_a_scenario() -> None:
    assert isinstance(load_scenario(textwrap.dedent(GOOD)), Scenario)
