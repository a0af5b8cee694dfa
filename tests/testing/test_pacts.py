"""A session's pacts: each test's tenant's pacts merged by provider, descriptions unique, each
file written whole under Pact's own name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from billing_sandbox.testing.pacts import SessionPacts, check_consumer


def pact(provider: str, *descriptions: str, story: str = "t1") -> dict[str, Any]:
    return {
        "consumer": {"name": "consumer"},
        "provider": {"name": provider},
        "interactions": [
            {"description": d, "comments": {"billing-sandbox": {"story": story}}}
            for d in descriptions
        ],
        "metadata": {"pactSpecification": {"version": "4.0"}},
    }


def test_tenants_pacts_merge_by_provider_in_order_with_unique_descriptions(
    tmp_path: Path,
) -> None:
    session = SessionPacts("web")
    session.add([pact("decoda-billing", "list"), pact("candid-write-offs", "get")], test="a")
    session.add([pact("decoda-billing", "list", story="t2")], test="b")
    written = session.write(tmp_path / "pacts")
    assert sorted(p.name for p in written) == [
        "web-candid-write-offs.json",
        "web-decoda-billing.json",
    ]
    decoda = json.loads((tmp_path / "pacts" / "web-decoda-billing.json").read_text())
    assert decoda["consumer"] == {"name": "web"}
    assert [i["description"] for i in decoda["interactions"]] == ["list", "list (#2)"]
    assert [i["comments"]["billing-sandbox"]["story"] for i in decoda["interactions"]] == [
        "t1",
        "t2",
    ]
    assert [i["comments"]["testname"] for i in decoda["interactions"]] == ["a", "b"]
    assert not list((tmp_path / "pacts").glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize("name", ["", "../etc", "a b", "-x", "x" * 101])
def test_a_consumer_name_must_be_able_to_name_a_file(name: str) -> None:
    with pytest.raises(ValueError, match="consumer name"):
        check_consumer(name)


def test_each_tenant_s_notes_are_kept_by_test(tmp_path: Path) -> None:
    session = SessionPacts("web")
    first, second = pact("decoda-billing", "a"), pact("decoda-billing", "b")
    first["metadata"]["billing-sandbox"] = {"version": "0.1.0", "notes": ["answer 3 was cut"]}
    second["metadata"]["billing-sandbox"] = {"version": "0.1.0", "notes": ["fault at 9"]}
    session.add([first], test="t::a")
    session.add([second], test="t::b")
    [path] = session.write(tmp_path)
    written = json.loads(path.read_text())["metadata"]["billing-sandbox"]
    assert written == {"version": "0.1.0", "notes": ["t::a: answer 3 was cut", "t::b: fault at 9"]}
