"""The `${...}` language: what each template renders to, its type kept, or as text, escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_sandbox.scenarios.durations import (
    MAX_SECONDS,
    UNITS,
    format_duration,
    parse_duration,
)
from billing_sandbox.scenarios.parsing import (
    Scope,
    TemplateError,
    compile_path,
    compile_string,
    compile_value,
)
from billing_sandbox.scenarios.templates import (
    UNKNOWN,
    Reference,
    RenderError,
    Static,
    Text,
    Whole,
    instant,
)

NOW = datetime(2026, 3, 1, 12, 30, 15, tzinfo=UTC)
SCOPE = Scope(("i",), {"patient": "steps[0]", "charge": "steps[1]"}, {})


class Values:
    """A run's values: answers of `patient` and `charge`, round 3, a fixed clock."""

    tenant = "acme.test"

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {
            "patient": {"id": "pat_1", "tags": ["a", "b"], "balance": 1250, "vip": True},
            "charge": {"id": "chg 1/2", "items": [{"price": 5000}], "meta": None},
        }
        self.draws: list[str] = []

    def loop(self, name: str) -> int:
        return 3

    def reference(self, ref: Reference) -> Any:
        return ref.within(self.answers[ref.step])

    def now(self) -> datetime:
        return NOW

    def fake(self, provider: str) -> Any:
        self.draws.append(provider)
        return f"<{provider}>"


def render(text: str) -> Any:
    return compile_string(text, SCOPE).render(Values())


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("${patient.balance}", 1250),
        ("${patient.vip}", True),
        ("${patient.tags}", ["a", "b"]),
        ("${patient}", {"id": "pat_1", "tags": ["a", "b"], "balance": 1250, "vip": True}),
        ("${charge.meta}", None),
        ("${charge.items[0].price}", 5000),
        ("${charge.items[-1]['price']}", 5000),
        ('${charge["items"][0]["price"]}', 5000),
        ("${i}", 3),
        ("${ i }", 3),
        ("${tenant}", "acme.test"),
        ("${now}", "2026-03-01T12:30:15Z"),
        ("${now - 30d}", "2026-01-30T12:30:15Z"),
        ("${now + 2h - 30m + 15s}", "2026-03-01T14:00:30Z"),
        ("${now-1d12h}", "2026-02-28T00:30:15Z"),
        ("${today}", "2026-03-01"),
        ("${today - 90d}", "2025-12-01"),
        ("${fake.first_name}", "<first_name>"),
    ],
)
def test_a_whole_template_keeps_its_type(text: str, value: Any) -> None:
    assert render(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Balance: ${patient.balance}", "Balance: 1250"),
        ("vip=${patient.vip}, meta=${charge.meta}", "vip=true, meta=null"),
        ("tags ${patient.tags}", 'tags ["a","b"]'),
        ("round ${i} of ${tenant}", "round 3 of acme.test"),
        (" ${i}", " 3"),
        ("due ${today + 30d}", "due 2026-03-31"),
        ("$${i} stays", "${i} stays"),
        ("$${i} and ${i}", "${i} and 3"),
        ("cost: $5 ${i}", "cost: $5 3"),
        ("no template", "no template"),
        ("", ""),
    ],
)
def test_text_interpolates_values_as_json_writes_them(text: str, value: str) -> None:
    assert render(text) == value


def test_an_escaped_template_is_plain_text() -> None:
    assert compile_string("$${patient.id}", SCOPE) == Static("${patient.id}")


def test_compiled_kinds() -> None:
    assert isinstance(compile_string("${i}", SCOPE), Whole)
    assert isinstance(compile_string("n${i}", SCOPE), Text)
    assert isinstance(compile_string("plain", SCOPE), Static)


def test_a_value_without_templates_is_static_and_shared() -> None:
    body = {"a": [1, {"b": "text"}], "c": None}
    node = compile_value(body, SCOPE, [])
    assert isinstance(node, Static) and node.value == body
    assert node.render(Values()) is node.render(Values())


def test_a_static_value_has_its_escapes_read() -> None:
    node = compile_value({"a": ["$${x}"]}, SCOPE, [])
    assert node == Static({"a": ["${x}"]})


def test_a_value_renders_each_template_in_place() -> None:
    body = {"patientId": "${patient.id}", "items": [{"price": "${charge.items[0].price}"}], "n": 1}
    rendered = compile_value(body, SCOPE, []).render(Values())
    assert rendered == {"patientId": "pat_1", "items": [{"price": 5000}], "n": 1}


def test_keys_are_never_templates() -> None:
    assert compile_value({"${i}": 1}, SCOPE, []).render(Values()) == {"${i}": 1}


def test_errors_are_noted_with_their_path() -> None:
    errors: list[tuple[tuple[str | int, ...], str]] = []
    compile_value({"a": [1, "${nope}"], "b": "${now * 2}"}, SCOPE, errors)
    assert [path for path, _ in errors] == [("a", 1), ("b",)]


def test_a_rendered_value_in_a_path_stays_in_its_segment() -> None:
    path = compile_path("/billing/charge/get/${charge.id}", SCOPE)
    assert path.render(Values()) == "/billing/charge/get/chg%201%2F2"
    assert len(path.segments) == 4


def test_a_slash_inside_a_template_does_not_split_the_path() -> None:
    path = compile_path('/x/${charge["a/b"]}/y', SCOPE)
    assert [type(node) for node in path.segments] == [Static, Whole, Static]


def test_a_segment_of_text_and_values() -> None:
    path = compile_path("/v1/patient/pat_${i}", SCOPE)
    assert path.render(Values()) == "/v1/patient/pat_3"


def test_an_answer_without_the_field_is_a_render_error() -> None:
    node = compile_string("${charge.items[3].price}", SCOPE)
    with pytest.raises(RenderError) as failed:
        node.render(Values())
    assert str(failed.value) == (
        "${charge.items[3].price}: the answer of step 'charge' at .items has no item 3 "
        "(it is a list of 1)"
    )


def test_a_field_of_text_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="has no field 'x' \\(it is the str 'pat_1'\\)"):
        compile_string("${patient.id.x}", SCOPE).render(Values())


def test_unknown_values_make_text_unknown() -> None:
    class Unknowing(Values):
        def reference(self, ref: Reference) -> Any:
            return UNKNOWN

    assert compile_string("id ${patient.id}", SCOPE).render(Unknowing()) is UNKNOWN
    assert compile_string("${patient.id}", SCOPE).render(Unknowing()) is UNKNOWN


def test_fake_draws_happen_in_the_order_written() -> None:
    values = Values()
    node = compile_value(
        {"a": "${fake.first_name}", "b": ["${fake.last_name}", "${fake.city}"]}, SCOPE, []
    )
    node.render(values)
    assert values.draws == ["first_name", "last_name", "city"]


def test_instants_are_written_in_utc_with_z() -> None:
    moment = datetime(2026, 1, 1, 9, tzinfo=UTC).astimezone(UTC) + timedelta(microseconds=5)
    assert instant(moment) == "2026-01-01T09:00:00.000005Z"


# ---- durations ----

DURATION_PARTS = st.lists(
    st.tuples(st.integers(0, 999), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4
)


@given(DURATION_PARTS)
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{count}{unit}" for count, unit in parts)
    assert parse_duration(text) == sum(count * UNITS[unit] for count, unit in parts)


@given(st.integers(0, MAX_SECONDS))
def test_a_duration_formatted_reads_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=12))
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        assert repr(text) in str(error)
    else:
        assert 0 <= seconds <= MAX_SECONDS and text and text[-1] in UNITS


@given(st.integers(-30_000, 30_000), st.sampled_from(sorted(UNITS)))
def test_now_moves_by_the_duration(count: int, unit: str) -> None:
    sign = "-" if count < 0 else "+"
    text = f"${{now {sign} {abs(count)}{unit}}}"
    expected = NOW + timedelta(seconds=count * UNITS[unit])
    assert render(text) == instant(expected)


@given(st.integers(-3_000, 3_000))
def test_today_moves_by_whole_days(days: int) -> None:
    sign = "-" if days < 0 else "+"
    assert (
        render(f"${{today {sign} {abs(days)}d}}") == (NOW + timedelta(days=days)).date().isoformat()
    )


@pytest.mark.parametrize("bad", ["${now - }", "${now - 1.5d}", "${now - 1w}", "${now 1d}"])
def test_a_bad_duration_in_a_template(bad: str) -> None:
    with pytest.raises(TemplateError):
        compile_string(bad, SCOPE)
