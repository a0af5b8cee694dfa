"""Reading pacts of every Pact specification version into the one model, and refusing what
cannot be read with every problem and where it is."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from billing_sandbox.contracts import reading
from billing_sandbox.contracts.model import PactInvalid, ProviderState, RuleSet
from billing_sandbox.contracts.reading import load_pact, parse_pact


def _v4_pact_as_pact_python_writes() -> dict[str, Any]:
    """The shape pact-python 4 (the Rust core) writes: v4 bodies, header lists, rule sets."""
    return {
        "consumer": {"name": "billing-app"},
        "provider": {"name": "candid-write-offs"},
        "interactions": [
            {
                "description": "a write-off list",
                "pending": False,
                "providerStates": [{"name": "write-offs exist", "params": {"count": 3}}],
                "request": {
                    "method": "GET",
                    "path": "/api/write-offs/v1",
                    "query": {"limit": ["10"]},
                    "headers": {"Authorization": ["Bearer abc"]},
                    "matchingRules": {
                        "header": {
                            "Authorization": {
                                "combine": "AND",
                                "matchers": [{"match": "regex", "regex": "^Bearer \\w+$"}],
                            }
                        }
                    },
                },
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": ["application/json"]},
                    "body": {
                        "content": {"id": 1, "items": [{"amount": 1.5}]},
                        "contentType": "application/json",
                        "encoded": False,
                    },
                    "matchingRules": {
                        "body": {
                            "$.id": {"combine": "AND", "matchers": [{"match": "type"}]},
                            "$.items": {
                                "combine": "AND",
                                "matchers": [{"match": "type", "min": 1}],
                            },
                        },
                        "status": {
                            "$": {
                                "combine": "AND",
                                "matchers": [{"match": "statusCode", "status": "success"}],
                            }
                        },
                    },
                    "generators": {"body": {"$.id": {"type": "RandomInt", "min": 1, "max": 9}}},
                },
                "type": "Synchronous/HTTP",
                "comments": {"billing-sandbox": {"story": "tenant-7"}},
            },
            {
                "description": "a write-off event",
                "type": "Asynchronous/Messages",
                "contents": {"content": {"id": 1}},
            },
        ],
        "metadata": {"pactSpecification": {"version": "4.0"}},
    }


def test_a_v4_pact_as_pact_python_writes_it() -> None:
    pact = parse_pact(_v4_pact_as_pact_python_writes(), "billing-app.json")

    assert (pact.consumer, pact.provider, pact.specification) == (
        "billing-app",
        "candid-write-offs",
        "4.0",
    )
    (interaction,) = pact.interactions
    assert interaction.index == 0
    assert interaction.label == "#1 a write-off list"
    assert interaction.provider_states == (ProviderState("write-offs exist", {"count": 3}),)
    assert interaction.story == "tenant-7"
    request = interaction.request
    assert (request.method, request.path, request.query) == (
        "GET",
        "/api/write-offs/v1",
        {"limit": ["10"]},
    )
    assert request.headers == {"Authorization": "Bearer abc"}
    assert request.rules["header"]["Authorization"] == RuleSet(
        ({"match": "regex", "regex": "^Bearer \\w+$"},)
    )
    response = interaction.response
    assert response.body == {"id": 1, "items": [{"amount": 1.5}]}
    assert response.has_body
    assert response.headers == {"Content-Type": "application/json"}
    assert response.rules["body"]["$.id"] == RuleSet(({"match": "type"},))
    assert response.rules["body"]["$.items"].matchers == ({"match": "type", "min": 1},)
    assert response.rules["status"][""].matchers == ({"match": "statusCode", "status": "success"},)
    assert response.generators == {"body": {"$.id": {"type": "RandomInt", "min": 1, "max": 9}}}
    (skipped,) = pact.skipped
    assert skipped == (
        'interactions[1] ("a write-off event"): its type is Asynchronous/Messages; '
        "only Synchronous/HTTP interactions are verified"
    )


def test_a_v2_pact_has_its_rules_sorted_into_categories_and_its_matchers_normalised() -> None:
    document = {
        "consumer": {"name": "app"},
        "provider": {"name": "decoda-billing"},
        "interactions": [
            {
                "description": "list invoices",
                "providerState": "an invoice exists",
                "request": {
                    "method": "get",
                    "path": "/invoices/7",
                    "query": "status=open&page=2&status=draft",
                    "matchingRules": {
                        "$.path": {"regex": "/invoices/\\d+"},
                        "$.query.page": {"match": "regex", "regex": "\\d+"},
                    },
                },
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json; charset=utf-8"},
                    "body": {"data": [{"id": "inv_1", "state": "open"}]},
                    "matchingRules": {
                        "$.body.data": {"min": 1},
                        "$.body.data[*].id": {"match": "type"},
                        "$.body.data[*]['state']": {"regex": "open|closed"},
                        "$.headers.Content-Type": {"regex": "application/json.*"},
                        "$.body": {"match": "type"},
                    },
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "2.0.0"}},
    }

    pact = parse_pact(document, "v2.json")

    (interaction,) = pact.interactions
    assert pact.specification == "2.0.0"
    assert interaction.provider_states == (ProviderState("an invoice exists"),)
    request = interaction.request
    assert request.method == "GET"
    assert request.query == {"status": ["open", "draft"], "page": ["2"]}
    assert request.rules["path"][""].matchers == ({"match": "regex", "regex": "/invoices/\\d+"},)
    assert request.rules["query"]["page"].matchers == ({"match": "regex", "regex": "\\d+"},)
    body_rules = interaction.response.rules["body"]
    assert body_rules["$.data"].matchers == ({"match": "type", "min": 1},)
    assert body_rules["$.data[*].id"].matchers == ({"match": "type"},)
    assert body_rules["$.data[*].state"].matchers == ({"match": "regex", "regex": "open|closed"},)
    assert body_rules["$"].matchers == ({"match": "type"},)
    assert interaction.response.rules["header"]["Content-Type"].matchers == (
        {"match": "regex", "regex": "application/json.*"},
    )
    assert interaction.story is None


def test_a_v3_pact_with_rule_categories_a_bare_path_rule_set_and_generators() -> None:
    document = {
        "consumer": {"name": "app"},
        "provider": {"name": "mycure-billing-soas"},
        "interactions": [
            {
                "description": "one statement",
                "providerStates": [{"name": "a statement", "params": {"id": "soa_1"}}],
                "request": {
                    "method": "GET",
                    "path": "/billing-soas/soa_1",
                    "query": {"$limit": ["5"], "tags": ["a", "b"]},
                    "matchingRules": {
                        "path": {
                            "combine": "AND",
                            "matchers": [{"match": "regex", "regex": "/billing-soas/\\w+"}],
                        },
                        "query": {"$limit": {"matchers": [{"match": "integer"}]}},
                    },
                    "generators": {
                        "path": {"type": "ProviderState", "expression": "/billing-soas/${id}"}
                    },
                },
                "response": {
                    "status": 200,
                    "body": {"id": "soa_1", "total": 10},
                    "matchingRules": {
                        "body": {
                            "$.total": {
                                "combine": "OR",
                                "matchers": [{"match": "integer"}, {"match": "decimal"}],
                            }
                        }
                    },
                },
            }
        ],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }

    (interaction,) = parse_pact(document, "v3.json").interactions

    assert interaction.provider_states == (ProviderState("a statement", {"id": "soa_1"}),)
    assert interaction.request.query == {"$limit": ["5"], "tags": ["a", "b"]}
    assert interaction.request.rules["path"][""].matchers == (
        {"match": "regex", "regex": "/billing-soas/\\w+"},
    )
    assert interaction.request.rules["query"]["$limit"].matchers == ({"match": "integer"},)
    assert interaction.request.generators == {
        "path": {"": {"type": "ProviderState", "expression": "/billing-soas/${id}"}}
    }
    total = interaction.response.rules["body"]["$.total"]
    assert total.combine == "OR"
    assert len(total.matchers) == 2


def test_a_v1_pact_reads_like_v2() -> None:
    document = {
        "consumer": {"name": "app"},
        "provider": {"name": "candid-write-offs"},
        "interactions": [
            {
                "description": "ping",
                "provider_state": "up",
                "request": {"method": "head", "path": "/ping"},
                "response": {"status": 204},
            }
        ],
        "metadata": {"pactSpecificationVersion": "1.1.0"},
    }

    pact = parse_pact(document, "v1.json")

    assert pact.specification == "1.1.0"
    (interaction,) = pact.interactions
    assert interaction.request.method == "HEAD"
    assert interaction.provider_states == (ProviderState("up"),)
    assert not interaction.response.has_body
    assert interaction.response.rules == {}


@pytest.mark.parametrize(
    ("interaction", "inferred"),
    [
        ({"type": "Synchronous/HTTP"}, "4.0"),
        ({"providerStates": []}, "3.0.0"),
        ({}, "2.0.0"),
    ],
)
def test_a_missing_version_is_read_from_the_shape(
    interaction: dict[str, Any], inferred: str
) -> None:
    item = {
        "description": "x",
        "request": {"method": "GET", "path": "/"},
        "response": {"status": 200},
        **interaction,
    }
    document = {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": [item]}

    assert parse_pact(document, "x.json").specification == inferred


def test_v4_bodies_encoded_as_json_as_base64_or_as_json_text() -> None:
    def interaction(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "Synchronous/HTTP",
            "description": "d",
            "request": {"method": "POST", "path": "/", "body": body},
            "response": {"status": 200},
        }

    document = {
        "consumer": {"name": "a"},
        "provider": {"name": "b"},
        "metadata": {"pactSpecification": {"version": "4.0"}},
        "interactions": [
            interaction({"content": '{"a": 1}', "contentType": "text/plain", "encoded": "json"}),
            interaction({"content": '{"b": [2]}', "contentType": "application/json"}),
            interaction({"content": "not json", "contentType": "application/json"}),
            interaction(
                {
                    "content": base64.b64encode(b"hello").decode(),
                    "contentType": "text/plain",
                    "encoded": "base64",
                }
            ),
            interaction(
                {
                    "content": base64.b64encode(b"\xff\xfe\x00").decode(),
                    "contentType": "application/octet-stream",
                    "encoded": "base64",
                }
            ),
            interaction({}),
        ],
    }

    pact = parse_pact(document, "bodies.json")

    bodies = [(i.index, i.request.body, i.request.has_body) for i in pact.interactions]
    assert bodies == [
        (0, {"a": 1}, True),
        (1, {"b": [2]}, True),
        (2, "not json", True),
        (3, "hello", True),
        (5, None, False),
    ]
    assert pact.skipped == (
        'interactions[4] ("d"): its request body is binary, which the tools do not send',
    )


def test_a_json_body_written_as_text_in_a_v3_pact_is_parsed() -> None:
    document = {
        "consumer": {"name": "a"},
        "provider": {"name": "b"},
        "interactions": [
            {
                "description": "d",
                "request": {"method": "GET", "path": "/"},
                "response": {
                    "status": 200,
                    "headers": {"content-type": "application/vnd.api+json"},
                    "body": '{"ok": true}',
                },
            }
        ],
    }

    (interaction,) = parse_pact(document, "x.json").interactions

    assert interaction.response.body == {"ok": True}


def test_a_v3_message_pact_has_nothing_to_verify_and_says_so() -> None:
    document = {
        "consumer": {"name": "a"},
        "provider": {"name": "b"},
        "messages": [{"description": "an event", "contents": {}}],
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }

    pact = parse_pact(document, "messages.json")

    assert pact.interactions == ()
    assert pact.skipped == (
        'messages[0] ("an event"): a message; only Synchronous/HTTP interactions are verified',
    )


def test_every_problem_is_reported_together_with_its_location() -> None:
    document = {
        "consumer": {},
        "provider": {"name": "b"},
        "interactions": [
            {"description": "fine", "request": {"method": "GET", "path": "/"}, "response": {}},
            "not an interaction",
            {
                "description": "bad status",
                "request": {"method": "GET", "path": "/"},
                "response": {"status": "200"},
            },
            {
                "description": "bad rules",
                "request": {"path": 5},
                "response": {
                    "status": 200,
                    "matchingRules": {
                        "body": {
                            "$.a[": {"matchers": [{"match": "type"}]},
                            "$.b": {"matchers": [{"nothing": 1}], "combine": "XOR"},
                        }
                    },
                },
            },
        ],
    }

    with pytest.raises(PactInvalid) as raised:
        parse_pact(document, "bad.json")

    problems = raised.value.problems
    assert raised.value.source == "bad.json"
    assert "consumer.name: missing" in problems
    assert 'interactions[1]: must be an object, got "not an interaction"' in problems
    assert 'interactions[2].response.status: must be an integer, got "200"' in problems
    assert "interactions[3].request.method: missing" in problems
    assert "interactions[3].request.path: must be a string, got 5" in problems
    assert any(
        p.startswith('interactions[3].response.matchingRules.body["$.a["]: not a JSON path')
        for p in problems
    )
    assert any(
        p.startswith('interactions[3].response.matchingRules.body["$.b"].combine: must be')
        for p in problems
    )
    assert any(
        p.startswith('interactions[3].response.matchingRules.body["$.b"].matchers[0]: has no')
        for p in problems
    )
    assert str(raised.value).startswith("bad.json: not a readable pact: ")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "a pact is a JSON object, got a list"),
        ({"consumer": {"name": "a"}, "provider": {"name": "b"}}, "interactions: missing"),
        (
            {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": {}},
            "interactions: must be a list, got an object",
        ),
        (
            {
                "consumer": {"name": "a"},
                "provider": {"name": "b"},
                "interactions": [],
                "metadata": {"pactSpecification": {"version": "5.0"}},
            },
            'metadata.pactSpecification.version: Pact specification "5.0" is not one',
        ),
        (
            {
                "consumer": {"name": "a"},
                "provider": {"name": "b"},
                "interactions": [
                    {
                        "type": "Synchronous/HTTP",
                        "description": "d",
                        "request": {"method": "GET", "path": "/"},
                        "response": {"status": 200, "body": {"content": 1, "encoded": "gzip"}},
                    }
                ],
            },
            'interactions[0].response.body.encoded: must be false, "base64" or "json"',
        ),
    ],
)
def test_what_cannot_be_read_is_named(document: Any, problem: str) -> None:
    with pytest.raises(PactInvalid) as raised:
        parse_pact(document, "x.json")

    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_a_matcher_the_tools_do_not_know_is_kept_for_the_verifier_to_report() -> None:
    document = {
        "consumer": {"name": "a"},
        "provider": {"name": "b"},
        "interactions": [
            {
                "description": "d",
                "request": {"method": "GET", "path": "/"},
                "response": {
                    "status": 200,
                    "body": {"a": 1},
                    "matchingRules": {"body": {"a": {"matchers": [{"match": "fancy"}]}}},
                },
            }
        ],
    }

    (interaction,) = parse_pact(document, "x.json").interactions

    assert interaction.response.rules["body"]["$.a"].matchers == ({"match": "fancy"},)


def test_load_pact_reads_a_file_and_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "pact.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_v4_pact_as_pact_python_writes()).encode())

    pact = load_pact(path)

    assert pact.source == str(path)
    assert len(pact.interactions) == 1


def test_load_pact_refuses_what_is_not_a_readable_json_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"consumer": ')
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"padding": "x" * 200}))
    monkeypatch.setattr(reading, "MAX_PACT_BYTES", 100)

    cases = {
        broken: "not JSON: ",
        tmp_path: "not a file",
        tmp_path / "absent.json": "no such file",
        large: "larger than",
    }
    for path, problem in cases.items():
        with pytest.raises(PactInvalid) as raised:
            load_pact(path)
        assert raised.value.source == str(path)
        assert raised.value.problems[0].startswith(problem), raised.value.problems


def test_a_file_with_many_problems_lists_the_first_and_counts_the_rest() -> None:
    document = {
        "consumer": {"name": "a"},
        "provider": {"name": "b"},
        "interactions": [1] * (reading.MAX_PROBLEMS + 7),
    }

    with pytest.raises(PactInvalid) as raised:
        parse_pact(document, "x.json")

    assert len(raised.value.problems) == reading.MAX_PROBLEMS + 1
    assert raised.value.problems[-1] == "and 7 more problems"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        (
            {"pactSpecification": {"version": "9" * 5000}},
            'metadata.pactSpecification.version: must be a version such as "4.0", got "999',
        ),
        (
            {"pact-specification": {"version": "9" * 30}},
            'metadata.pact-specification.version: Pact specification "999',
        ),
        (
            {"pactSpecificationVersion": "v12345"},
            'metadata.pactSpecificationVersion: Pact specification "v12345" is not one',
        ),
    ],
)
def test_a_version_of_too_many_digits_is_a_problem_naming_its_field(
    metadata: dict[str, Any], problem: str
) -> None:
    document = {"consumer": {"name": "a"}, "provider": {"name": "b"}, "interactions": [],
                "metadata": metadata}  # fmt: skip
    with pytest.raises(PactInvalid) as raised:
        parse_pact(document, "x.json")

    (only,) = raised.value.problems
    assert only.startswith(problem), only
    assert len(only) < 200  # the value is shown cut short


def test_load_pact_refuses_a_fifo_without_waiting_on_it(tmp_path: Path) -> None:
    fifo = tmp_path / "pact.json"
    os.mkfifo(fifo)
    with pytest.raises(PactInvalid) as raised:
        load_pact(fifo)
    assert raised.value.problems == ["not a file"]
