"""The verifier's comparison of an answer with a pact's expected response, by Pact's rules."""

from __future__ import annotations

from typing import Any

import pytest

from billing_sandbox.contracts import matching
from billing_sandbox.contracts.jsonpath import PathError, Step, parse_path, render, shown, weight
from billing_sandbox.contracts.matching import Mismatch, response_mismatches
from billing_sandbox.contracts.model import Response, RuleSet

JSON = {"Content-Type": "application/json"}


def _expects(
    body: Any = None,
    rules: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    header_rules: dict[str, Any] | None = None,
    status_rule: dict[str, Any] | None = None,
    has_body: bool = True,
) -> Response:
    """A Response; `rules` maps a body path to one matcher, or to a (combine, [matchers])."""
    body_rules: dict[str, RuleSet] = {}
    for path, rule in (rules or {}).items():
        if isinstance(rule, tuple):
            body_rules[path] = RuleSet(tuple(rule[1]), rule[0])
        else:
            body_rules[path] = RuleSet((rule,))
    all_rules: dict[str, dict[str, RuleSet]] = {"body": body_rules}
    if header_rules:
        all_rules["header"] = {name: RuleSet((rule,)) for name, rule in header_rules.items()}
    if status_rule:
        all_rules["status"] = {"": RuleSet((status_rule,))}
    return Response(
        status=status,
        headers=headers or {},
        body=body,
        has_body=has_body,
        rules=all_rules,
    )


def _body_mismatches(expected: Response, body: Any) -> list[Mismatch]:
    return response_mismatches(expected, expected.status, JSON, body, True)


def _messages(expected: Response, body: Any) -> dict[str, str]:
    return {m.where: m.message for m in _body_mismatches(expected, body)}


# ---- status ---------------------------------------------------------------------------------


def test_the_status_must_equal_the_pacts() -> None:
    assert response_mismatches(_expects(has_body=False), 200, {}, None, False) == []
    assert response_mismatches(_expects(status=201, has_body=False), 200, {}, None, False) == [
        Mismatch("status", "expected 201, got 200")
    ]


@pytest.mark.parametrize(
    ("setting", "status", "problem"),
    [
        ("success", 204, None),
        ("success", 404, "expected a success status (200-299), got 404"),
        ("clientError", 422, None),
        ("nonError", 302, None),
        ("error", 200, "expected a error status (400-599), got 200"),
        ([200, 201], 201, None),
        ([200, 201], 202, "expected one of 200, 201, got 202"),
    ],
)
def test_a_status_rule_loosens_the_status(setting: Any, status: int, problem: str | None) -> None:
    expected = _expects(
        status=200, has_body=False, status_rule={"match": "statusCode", "status": setting}
    )

    found = response_mismatches(expected, status, {}, None, False)

    assert found == ([Mismatch("status", problem)] if problem else [])


# ---- headers --------------------------------------------------------------------------------


def test_expected_headers_are_found_by_any_case_and_others_are_fine() -> None:
    expected = _expects(has_body=False, headers={"X-Request-Id": "abc", "Cache-Control": "a, b"})

    assert (
        response_mismatches(
            expected,
            200,
            {"x-request-id": "abc", "cache-control": "a,b", "X-Other": "1"},
            None,
            False,
        )
        == []
    )
    assert response_mismatches(expected, 200, {"cache-control": "a"}, None, False) == [
        Mismatch("header X-Request-Id", "missing (the pact expects it)"),
        Mismatch("header Cache-Control", 'expected "a, b", got "a"'),
    ]


@pytest.mark.parametrize(
    ("expected_type", "actual_type", "matches"),
    [
        ("application/json", "application/json; charset=utf-8", True),
        ("application/json", "Application/JSON", True),
        ("application/json; charset=utf-8", "application/json;charset=UTF-8", True),
        ("application/json; charset=utf-8", "application/json", False),
        ("application/json", "text/html", False),
    ],
)
def test_content_type_compares_the_media_type_and_the_parameters_the_pact_names(
    expected_type: str, actual_type: str, matches: bool
) -> None:
    expected = _expects(has_body=False, headers={"Content-Type": expected_type})

    found = response_mismatches(expected, 200, {"content-type": actual_type}, None, False)

    assert (found == []) is matches
    assert all(m.where == "header Content-Type" for m in found)


def test_a_header_rule_replaces_equality() -> None:
    expected = _expects(
        has_body=False,
        headers={"Location": "/charges/ch_1"},
        header_rules={"location": {"match": "regex", "regex": "/charges/ch_\\w+"}},
    )

    assert response_mismatches(expected, 200, {"Location": "/charges/ch_9"}, None, False) == []
    assert response_mismatches(expected, 200, {"Location": "/refunds/1"}, None, False) == [
        Mismatch("header Location", '"/refunds/1" does not match /charges/ch_\\w+')
    ]


# ---- bodies without rules -------------------------------------------------------------------


def test_extra_keys_are_fine_and_a_missing_key_is_named_by_its_path() -> None:
    expected = _expects({"data": [{"amount": 5, "currency": "USD"}]})

    assert _messages(expected, {"data": [{"amount": 5, "currency": "USD", "x": 1}], "y": 2}) == {}
    assert _body_mismatches(expected, {"data": [{"amount": 5}]}) == [
        Mismatch("body $.data[0].currency", "missing (the pact expects it)")
    ]


def test_without_rules_values_must_equal_and_arrays_must_have_the_same_length() -> None:
    expected = _expects({"status": "posted", "ids": [1, 2, 3], "n": 1, "flag": True})

    found = _messages(expected, {"status": "void", "ids": [1, 9], "n": 1.0, "flag": 1})

    assert found == {
        "body $.status": 'expected "posted", got "void"',
        "body $.ids": "expected 3 items, got 2",
        "body $.ids[1]": "expected 2, got 9",
        "body $.n": "expected 1, got 1.0",
        "body $.flag": "expected true, got 1",
    }


def test_a_different_json_type_is_named() -> None:
    expected = _expects({"a": {"b": 1}, "c": [1]})

    assert _messages(expected, {"a": 42, "c": "x"}) == {
        "body $.a": "expected an object, got 42",
        "body $.c": 'expected an array, got "x"',
    }


def test_a_missing_body_and_a_text_body() -> None:
    text = _expects("hello")

    assert response_mismatches(text, 200, {}, None, False) == [
        Mismatch("body", "missing (the pact expects a body)")
    ]
    assert response_mismatches(text, 200, {}, "hello", True) == []
    assert response_mismatches(text, 200, {}, "bye", True) == [
        Mismatch("body $", 'expected "hello", got "bye"')
    ]


# ---- which rule applies where ---------------------------------------------------------------


def test_a_type_rule_cascades_to_the_children_of_its_place() -> None:
    expected = _expects({"charge": {"id": "ch_1", "amount": 5}}, {"$.charge": {"match": "type"}})

    assert _messages(expected, {"charge": {"id": "ch_2", "amount": 7}}) == {}
    assert _messages(expected, {"charge": {"id": 2, "amount": 7}}) == {
        "body $.charge.id": "expected a string, got 2"
    }
    assert _messages(expected, {"charge": {"amount": 7}}) == {
        "body $.charge.id": "missing (the pact expects it)"
    }


def test_the_most_specific_rule_wins_and_exact_names_outweigh_wildcards() -> None:
    expected = _expects(
        {"items": [{"state": "open", "id": "a"}]},
        {
            "$": {"match": "type"},
            "$.items[*].state": {"match": "regex", "regex": "open|closed"},
            "$.*[*].id": {"match": "regex", "regex": "[a-z]"},
            "$.items[*].id": {"match": "equality"},
        },
    )

    found = _messages(expected, {"items": [{"state": "gone", "id": "b"}]})

    assert found == {
        "body $.items[0].state": '"gone" does not match open|closed',
        "body $.items[0].id": 'expected "a", got "b"',
    }


def test_an_equality_rule_stops_a_cascading_type_rule() -> None:
    expected = _expects(
        {"kind": "charge", "amount": 5}, {"$": {"match": "type"}, "$.kind": {"match": "equality"}}
    )

    assert _messages(expected, {"kind": "charge", "amount": 9}) == {}
    assert _messages(expected, {"kind": "refund", "amount": 9}) == {
        "body $.kind": 'expected "charge", got "refund"'
    }


def test_rule_paths_with_quoted_names() -> None:
    expected = _expects(
        {"x-total count": "3"}, {"$['x-total count']": {"match": "regex", "regex": "\\d+"}}
    )

    assert _messages(expected, {"x-total count": "12"}) == {}
    assert _messages(expected, {"x-total count": "many"}) == {
        "body $['x-total count']": '"many" does not match \\d+'
    }


# ---- arrays under rules ---------------------------------------------------------------------


def test_an_array_with_a_type_rule_checks_every_item_against_the_first() -> None:
    expected = _expects(
        {"data": [{"id": "a", "amount": 1}]}, {"$.data": {"match": "type", "min": 1}}
    )

    assert _messages(expected, {"data": [{"id": "b", "amount": 2}, {"id": "c", "amount": 3}]}) == {}
    assert _messages(
        expected, {"data": [{"id": "b", "amount": 2}, {"id": "c", "amount": "3"}]}
    ) == {"body $.data[1].amount": 'expected a number, got "3"'}
    assert _messages(expected, {"data": []}) == {"body $.data": "expected at least 1 item, got 0"}


def test_items_within_the_example_compare_with_the_item_at_their_place() -> None:
    expected = _expects({"pair": ["x", 1]}, {"$.pair": {"match": "type"}})

    assert _messages(expected, {"pair": ["y", 2, "z"]}) == {}
    assert _messages(expected, {"pair": [1, "y"]}) == {
        "body $.pair[0]": "expected a string, got 1",
        "body $.pair[1]": 'expected a number, got "y"',
    }


def test_max_bounds_the_length_where_the_rule_is_written_only() -> None:
    expected = _expects({"rows": [[1]]}, {"$.rows": {"match": "type", "max": 2}})

    assert _messages(expected, {"rows": [[1, 2, 3], [4]]}) == {}
    assert _messages(expected, {"rows": [[1], [2], [3]]}) == {
        "body $.rows": "expected at most 2 items, got 3"
    }


# ---- single matchers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "example", "good", "bad", "problem"),
    [
        ({"match": "type"}, "a", "b", 42, "expected a string, got 42"),
        ({"match": "type"}, 1, 2.5, True, "expected a number, got true"),
        (
            {"match": "regex", "regex": "^(draft|posted)$"},
            "draft",
            "posted",
            "void",
            '"void" does not match ^(draft|posted)$',
        ),
        (
            {"match": "regex", "regex": "draft"},
            "draft",
            "draft",
            "drafted",
            '"drafted" does not match draft',
        ),
        ({"match": "regex", "regex": "\\d+"}, 1, 345, 3.5, '"3.5" does not match \\d+'),
        ({"match": "integer"}, 1, -7, 1.5, "expected an integer, got 1.5"),
        ({"match": "integer"}, 1, 7, "7", 'expected an integer, got "7"'),
        ({"match": "decimal"}, 1.5, 2.25, 2, "expected a decimal number, got 2"),
        ({"match": "number"}, 1, 2.5, "2", 'expected a number, got "2"'),
        ({"match": "boolean"}, True, "false", "yes", 'expected a boolean, got "yes"'),
        ({"match": "null"}, None, None, 0, "expected null, got 0"),
        ({"match": "include", "value": "lo"}, "lo", "hello", "hi", '"hi" does not include "lo"'),
        ({"match": "notEmpty"}, "x", "y", "", 'expected a value that is not empty, got ""'),
        (
            {"match": "semver"},
            "1.2.3",
            "10.0.1-rc.1+build.5",
            "1.2",
            'expected a semantic version (such as 1.2.3), got "1.2"',
        ),
        ({"match": "equality"}, "a", "a", "b", 'expected "a", got "b"'),
    ],
)
def test_each_matcher(
    matcher: dict[str, Any], example: Any, good: Any, bad: Any, problem: str
) -> None:
    expected = _expects({"v": example}, {"$.v": matcher})

    assert _messages(expected, {"v": good}) == {}
    assert _messages(expected, {"v": bad}) == {"body $.v": problem}


@pytest.mark.parametrize(
    ("matcher", "good", "bad"),
    [
        ({"match": "date", "format": "yyyy-MM-dd"}, "2024-02-29", "2023-02-29"),
        ({"match": "date", "format": "MM/dd/yyyy"}, "01/14/2001", "14/01/2001"),
        ({"match": "date"}, "2024-05-01", "May 1st"),
        ({"match": "time", "format": "HH:mm:ss"}, "23:59:59", "24:00:00"),
        ({"match": "time"}, "14:00:00Z", "2pm"),
        (
            {"match": "timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"},
            "2024-01-01T10:00:00.123+05:30",
            "2024-01-01T10:00:00.123456Z",
        ),
        (
            {"match": "datetime", "format": "yyyy-MM-dd HH:mm:ssZ"},
            "2013-12-01 14:00:00+1000",
            "2013-12-01 14:00:00+10:00",
        ),
        ({"match": "timestamp", "format": "dd MMM yyyy"}, "01 Feb 2024", "01 Fib 2024"),
        ({"match": "datetime"}, "2024-01-01T00:00:00Z", "yesterday"),
    ],
)
def test_dates_and_times_by_format_or_iso_8601(
    matcher: dict[str, Any], good: str, bad: str
) -> None:
    expected = _expects({"at": good}, {"$.at": matcher})

    assert _messages(expected, {"at": good}) == {}
    (problem,) = _messages(expected, {"at": bad}).values()
    assert problem.startswith(f'"{bad}" is not a')


def test_a_date_must_be_a_string_and_an_unknown_format_letter_is_said() -> None:
    expected = _expects(
        {"a": "2024", "b": "x"},
        {
            "$.a": {"match": "date", "format": "yyyy"},
            "$.b": {"match": "date", "format": "yyyy-ww"},
        },
    )

    assert _messages(expected, {"a": 2024, "b": "2024-05"}) == {
        "body $.a": "expected a date as a string, got 2024",
        "body $.b": (
            "the pact's date format \"yyyy-ww\" uses 'w', which the verifier does not check"
        ),
    }


def test_a_regex_re2_refuses_is_a_mismatch_naming_it() -> None:
    expected = _expects({"v": "aa"}, {"$.v": {"match": "regex", "regex": "(a)\\1"}})

    (problem,) = _messages(expected, {"v": "aa"}).values()

    assert problem.startswith('the pact\'s regex "(a)\\\\1" cannot be run: ')
    assert "RE2" in problem


def test_an_unknown_matcher_is_never_passed() -> None:
    expected = _expects({"v": 1}, {"$.v": {"match": "fancy"}})

    assert _messages(expected, {"v": 1}) == {
        "body $.v": 'the pact uses the matcher "fancy", which the verifier does not support'
    }


def test_or_combine_passes_when_one_matcher_holds() -> None:
    expected = _expects({"v": 1}, {"$.v": ("OR", [{"match": "null"}, {"match": "integer"}])})

    assert _messages(expected, {"v": None}) == {}
    assert _messages(expected, {"v": 3}) == {}
    assert _body_mismatches(expected, {"v": "x"}) == [
        Mismatch("body $.v", 'expected null, got "x"'),
        Mismatch("body $.v", 'expected an integer, got "x"'),
    ]


def test_and_combine_needs_every_matcher() -> None:
    expected = _expects(
        {"v": "ab"}, {"$.v": ("AND", [{"match": "type"}, {"match": "regex", "regex": "a.*"}])}
    )

    assert _messages(expected, {"v": "abc"}) == {}
    assert _messages(expected, {"v": "bc"}) == {"body $.v": '"bc" does not match a.*'}


# ---- matchers over objects and arrays -------------------------------------------------------


def test_values_leaves_the_keys_unpinned() -> None:
    expected = _expects(
        {"by_id": {"a": {"n": 1}}},
        {"$.by_id": {"match": "values"}, "$.by_id.*.n": {"match": "integer"}},
    )

    assert _messages(expected, {"by_id": {"x": {"n": 5}, "y": {"n": 6}}}) == {}
    assert _messages(expected, {"by_id": {"x": {"n": "5"}}}) == {
        "body $.by_id.x.n": 'expected an integer, got "5"'
    }


def test_each_key_checks_the_keys_and_does_not_pin_them() -> None:
    expected = _expects(
        {"m": {"abc": 1}},
        {"$.m": {"match": "eachKey", "rules": [{"match": "regex", "regex": "[a-z]+"}]}},
    )

    assert _messages(expected, {"m": {"xyz": 2}}) == {}
    assert _messages(expected, {"m": {"A1": 2}}) == {
        "body $.m.A1": 'key "A1": "A1" does not match [a-z]+'
    }
    assert _messages(expected, {"m": []}) == {"body $.m": "expected an object, got []"}


def test_each_value_checks_every_value_of_an_object_or_array() -> None:
    expected = _expects(
        {"m": {"a": 1}, "l": [1]},
        {
            "$.m": {"match": "eachValue", "rules": [{"match": "type"}]},
            "$.l": {"match": "eachValue", "rules": [{"match": "integer"}]},
        },
    )

    assert _messages(expected, {"m": {"x": 2, "y": 3}, "l": [4, 5, 6]}) == {}
    assert _messages(expected, {"m": {"x": 2, "y": "s"}, "l": [4, 5.5]}) == {
        "body $.m.y": 'expected a number, got "s"',
        "body $.l[1]": "expected an integer, got 5.5",
    }


def test_array_contains_needs_each_variant_matched_by_some_item() -> None:
    matcher = {
        "match": "arrayContains",
        "variants": [
            {
                "index": 0,
                "rules": {
                    "$.k": {"combine": "AND", "matchers": [{"match": "regex", "regex": "a+"}]}
                },
            },
            {"index": 1, "rules": {}},
        ],
    }
    expected = _expects({"l": [{"k": "a"}, {"k": "b"}]}, {"$.l": matcher})

    assert _messages(expected, {"l": [{"k": "b"}, {"z": 0}, {"k": "aaa", "extra": 1}]}) == {}
    assert _messages(expected, {"l": [{"k": "aaa"}]}) == {
        "body $.l": 'no item matches the pact\'s item 1: {"k": "b"}'
    }


def test_not_empty_on_an_array() -> None:
    expected = _expects({"l": [1]}, {"$.l": {"match": "notEmpty"}})

    assert _messages(expected, {"l": [2, 3]}) == {}
    assert _messages(expected, {"l": []}) == {"body $.l": "expected some items, got none"}


def test_content_type_accepts_a_json_body_for_a_json_type() -> None:
    expected = _expects({"a": 1}, {"$": {"match": "contentType", "value": "application/json"}})

    assert response_mismatches(expected, 200, {}, {"anything": True}, True) == []
    assert response_mismatches(expected, 200, {"Content-Type": "text/html"}, "<p>", True) == [
        Mismatch("body $", 'expected content of type "application/json", got "text/html"')
    ]


# ---- bounds ---------------------------------------------------------------------------------


def test_a_body_nested_200_deep_is_said_to_be_too_deep_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = {"a": deep}
    expected = _expects(deep, {"$": {"match": "type"}})

    found = _body_mismatches(expected, deep)

    assert len(found) == 1
    assert found[0].message.startswith(f"nested more than {matching.MAX_DEPTH} levels deep")
    assert found[0].where.startswith("body $.a.a.a")


def test_an_answer_nested_deeper_than_the_example_is_compared_where_the_example_reaches() -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    expected = _expects({"x": [1]}, {"$.x": {"match": "regex", "regex": ".*"}})

    assert _messages(expected, {"x": deep}) == {}


def test_many_mismatches_are_listed_up_to_a_bound_and_counted_past_it() -> None:
    count = matching.MAX_MISMATCHES + 5
    expected = _expects({"l": [0]}, {"$.l": {"match": "type"}})

    found = _body_mismatches(expected, {"l": ["x"] * count})

    assert len(found) == matching.MAX_MISMATCHES + 1
    assert found[-1] == Mismatch("response", "and 5 more mismatches")


# ---- JSON paths -----------------------------------------------------------------------------


def test_paths_as_pact_writes_them() -> None:
    assert parse_path("$.data[*].id") == (
        Step(name="data"),
        Step(any_index=True),
        Step(name="id"),
    )
    assert parse_path("$['a b'][0].*") == (Step(name="a b"), Step(index=0), Step(any_name=True))
    for broken in ("data", "$..a", "$.a[", "$[x]", "$['a"):
        with pytest.raises(PathError):
            parse_path(broken)


def test_weight_prefers_exact_names_and_longer_paths() -> None:
    place = ("items", 0, "id")
    exact = weight(parse_path("$.items[0].id"), place)
    wildcard = weight(parse_path("$.items[*].id"), place)

    assert exact > wildcard > 0
    assert weight(parse_path("$.items"), place) > 0
    assert weight(parse_path("$.other"), place) == 0
    assert weight(parse_path("$.items[0].id.more"), place) == 0


def test_places_and_values_as_messages_show_them() -> None:
    assert render(("data", 0, "amount")) == "$.data[0].amount"
    assert render(("x-total", "it's")) == "$['x-total']['it\\'s']"
    assert shown("void") == '"void"'
    assert shown({"a": [1, None, True]}) == '{"a": [1, null, true]}'
    assert len(shown("x" * 500)) == 80
