"""Pacts from the request journal (`contract check --journal`): one per API, oldest first, with
what the journal cannot tell said rather than guessed; and checked end to end, from calls
made to an in-process sandbox."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from billing_sandbox.contracts.check import check_pact
from billing_sandbox.contracts.journal import CutBody, pact_from_journal, pacts_from_journal
from billing_sandbox.contracts.model import PactInvalid
from billing_sandbox.contracts.openapi import load_spec
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import load_yaml

ROOT = Path(__file__).resolve().parents[2]
CHARGE = {"id": "chg_1", "patientId": "pat_1", "totalOutstanding": 0, "status": "PAID"}


def _entry(
    seq: int, api: str, method: str, path: str, status: Any, **fields: Any
) -> dict[str, Any]:
    """A journal entry as `GET /_sandbox/requests` gives it (`status` may be wrong on purpose)."""
    return {
        "seq": seq,
        "time": f"2026-03-01T12:00:{seq:02d}+00:00",
        "tenant": "acme",
        "api": api,
        "operationId": "op",
        "method": method,
        "path": path,
        "query": "",
        "status": status,
        "durationMs": 1.5,
        "requestBody": "",
        "responseBody": "",
        "violations": [],
        "fault": None,
        **fields,
    }


def _page(*entries: dict[str, Any]) -> dict[str, Any]:
    """A journal page: newest first, as the control API answers."""
    return {"requests": sorted(entries, key=lambda e: -e["seq"]), "nextBefore": None}


def test_a_journal_becomes_one_pact_per_api_with_its_calls_oldest_first() -> None:
    page = _page(
        _entry(1, "candid", "post", "/api/auth/v2/token", 200,
               requestBody='{"client_id": "acme", "client_secret": "[redacted]"}'),
        _entry(2, "decoda", "GET", "/billing/charge/list", 200,
               query="patient_id=pat_1&status=PAID&status=VOID",
               responseBody=orjson.dumps([CHARGE]).decode()),
        _entry(3, "decoda", "DELETE", "/billing/charge/chg_1", 200, responseBody="true",
               tenant=None),
        _entry(4, "candid", "GET", "/api/write-offs/v1", 502, responseBody="Bad Gateway"),
    )  # fmt: skip

    candid, decoda = pacts_from_journal(page, "journal.json")

    assert (candid.provider, decoda.provider) == ("candid-write-offs", "decoda-billing")
    assert (decoda.consumer, decoda.source, decoda.skipped) == ("journal", "journal.json", ())
    assert [i.label for i in decoda.interactions] == [
        "#1 GET /billing/charge/list → 200",
        "#2 DELETE /billing/charge/chg_1 → 200",
    ]
    listing, archive = decoda.interactions
    assert listing.request.query == {"patient_id": ["pat_1"], "status": ["PAID", "VOID"]}
    assert (listing.request.has_body, listing.response.body) == (False, [CHARGE])
    assert (listing.story, archive.story) == ("acme", None)
    assert (archive.response.has_body, archive.response.body) == (True, True)
    token, gateway = candid.interactions
    assert token.request.method == "POST"
    assert token.request.body == {"client_id": "acme", "client_secret": "[redacted]"}
    assert gateway.response.body == "Bad Gateway"  # not JSON: kept as text


def test_a_bare_list_of_entries_reads_as_a_page_does() -> None:
    entries = [_entry(2, "mycure", "GET", "/billing-soas", 200, responseBody="[]"),
               _entry(1, "mycure", "GET", "/accounts/u1", 200, responseBody="{}")]  # fmt: skip
    pact = pact_from_journal(entries, "journal.json")
    assert pact.provider == "mycure-billing-soas"
    assert [i.description for i in pact.interactions] == [
        "GET /accounts/u1 → 200",
        "GET /billing-soas → 200",
    ]


def test_one_pact_is_refused_for_a_journal_of_several_apis() -> None:
    page = _page(_entry(1, "candid", "GET", "/api/write-offs/v1", 200),
                 _entry(2, "decoda", "GET", "/billing/charge/list", 200))  # fmt: skip
    with pytest.raises(PactInvalid) as raised:
        pact_from_journal(page, "journal.json")
    assert raised.value.problems == [
        "requests: holds requests to several APIs (candid-write-offs, decoda-billing): "
        "check each against its spec"
    ]


def test_a_cut_body_is_left_unchecked_and_said(tmp_path: Path) -> None:
    cut = '[{"id": "chg_1", "patientId": "pat_1", "legacyCode": "X", "tot… [5120 more bytes]'
    page = _page(
        _entry(1, "decoda", "GET", "/billing/charge/list", 200, responseBody=cut),
        _entry(2, "decoda", "GET", "/billing/charge/list", 418, responseBody=cut),
    )
    pact = pact_from_journal(page, "journal.json")

    first = pact.interactions[0].response
    assert isinstance(first.body, CutBody) and first.has_body
    assert first.body == '[{"id": "chg_1", "patientId": "pat_1", "legacyCode": "X", "tot'
    assert pact.skipped[0] == (
        "#1 GET /billing/charge/list → 200: the journal cut its response body (5120 more "
        "bytes), so that body is not checked"
    )
    # The cut body (with a field the spec never declared) is not checked; the status still is.
    findings = check_pact(pact, load_spec(str(ROOT / "openapi" / "decoda-billing.yaml")))
    assert [(f.interaction.label, f.location) for f in findings] == [
        ("#2 GET /billing/charge/list → 418", "paths./billing/charge/list.get.responses")
    ]


def test_calls_that_met_a_fault_are_left_out_and_said() -> None:
    page = _page(
        _entry(1, "decoda", "GET", "/billing/charge/list", 0, fault="drop"),
        _entry(2, "decoda", "GET", "/billing/charge/list", 503, fault="status 503"),
        _entry(3, "decoda", "GET", "/billing/charge/list", 200, responseBody="[]"),
    )
    pact = pact_from_journal(page, "journal.json")
    assert [i.description for i in pact.interactions] == ["GET /billing/charge/list → 200"]
    assert pact.skipped == (
        "GET /billing/charge/list (journal seq 1): no status reached the client (a fault): "
        "left out",
        "GET /billing/charge/list (journal seq 2): met a fault (status 503): left out",
    )


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        ("not a journal", ["not a journal: expected what GET /_sandbox/requests answers "
                           "(an object with `requests`, or a list of requests)"]),
        ({"requests": {}}, ["requests: must be a list, got an object"]),
        ({"requests": []}, ["requests: the journal holds no requests"]),
        ([_entry(1, "decoda", "GET", "/x", 200), 7], ["[1]: must be an object, got a number"]),
        (
            {"requests": [_entry(1, "stripe", "GET", "x", "200", requestBody={"a": 1})]},
            [
                "requests[0].api: 'stripe' is not an API the sandbox serves "
                "(candid, decoda, mycure)",
                "requests[0].path: must start with /, got 'x'",
                "requests[0].status: must be an integer from 0 to 599, got the string '200'",
                "requests[0].requestBody: must be a string, got an object",
            ],
        ),
        (
            {"requests": [{k: v for k, v in _entry(1, "decoda", "GET", "/x", 200).items()
                           if k != "method"}]},
            ["requests[0].method: must be a non-empty string, got nothing"],
        ),
    ],
)  # fmt: skip
def test_a_bad_journal_says_where_and_why(document: Any, problems: list[str]) -> None:
    with pytest.raises(PactInvalid) as raised:
        pacts_from_journal(document, "journal.json")
    assert raised.value.problems == problems
    assert str(raised.value).startswith("journal.json: not a readable pact: ")


def test_problems_listed_are_bounded() -> None:
    with pytest.raises(PactInvalid) as raised:
        pacts_from_journal([1] * 50, "journal.json")
    assert len(raised.value.problems) == 21
    assert raised.value.problems[-1] == "and 30 more problems"


# ---------- end to end: calls to a sandbox, its journal, a spec ----------


@pytest.fixture
def settings() -> Settings:
    """The journal keeps whole bodies here (4 KiB by default: a charge list would be cut)."""
    return Settings(journal_body_bytes=1024 * 1024)


@pytest.mark.anyio
async def test_a_sandbox_journal_checks_clean_against_our_specs_and_names_a_drift(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    decoda = {"TENANT": "acme", "API-KEY": "key"}
    charges = (await client.get("/billing/charge/list", headers=decoda)).json()
    paid = next(charge for charge in charges if charge["status"] == "PAID")
    await client.get(f"/billing/charge/get/{paid['id']}", headers=decoda)
    await client.get("/v1/charge/list", params={"n": 3, "sort_by": "total"}, headers=decoda)
    token = await client.post(
        "/api/auth/v2/token", json={"client_id": "acme", "client_secret": "secret"}
    )
    await client.get(
        "/api/write-offs/v1",
        params={"limit": 2},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    journal = (await client.get("/_sandbox/requests")).json()

    pacts = {pact.provider: pact for pact in pacts_from_journal(journal, "journal")}
    assert sorted(pacts) == ["candid-write-offs", "decoda-billing"]
    assert all(pact.skipped == () for pact in pacts.values())  # nothing cut, nothing faulted
    for provider, pact in pacts.items():
        assert check_pact(pact, load_spec(str(ROOT / "openapi" / f"{provider}.yaml"))) == []

    # The vendor narrows ChargeStatus: the calls whose answers held a PAID charge are named.
    document = load_yaml((ROOT / "openapi" / "decoda-billing.yaml").read_bytes())
    narrowed = copy.deepcopy(document)
    narrowed["components"]["schemas"]["ChargeStatus"]["enum"].remove("PAID")
    path = tmp_path / "decoda-next.json"
    path.write_bytes(orjson.dumps(narrowed))
    findings = check_pact(pacts["decoda-billing"], load_spec(str(path)))
    described = {f.interaction.description for f in findings}
    assert f"GET /billing/charge/get/{paid['id']} → 200" in described
    assert "GET /billing/charge/list → 200" in described
    assert {f.location for f in findings} == {"components.schemas.ChargeStatus.enum"}
    legacy = [f for f in findings if f.interaction.description.startswith("GET /v1/")]
    assert all('"PAID" is not one of' in f.reason for f in legacy)
