"""Interoperability with Pact's own tools (pact-python 4, Pact's Rust core inside its wheel):
pacts its consumer mock server writes are verified by `billing-sandbox contract verify` against
the sandbox, and a pact exported from the sandbox's journal is verified by pact-python's own
verifier against a running sandbox, through the provider-state endpoint."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pact import Pact, Verifier, match

from billing_sandbox.contracts.command import main as contract
from billing_sandbox.settings import Settings
from billing_sandbox.testing import SandboxServer, SandboxTenant, serve

FRONT_DESK = "decoda-front-desk-day"
CHARGE = "chg_sandbox_0001"  # seeded in every tenant


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    # Whole answers in the journal, as the plugin asks for when it writes pacts.
    with serve(Settings(journal_body_bytes=1 << 20)) as server:
        yield server


def decoda_consumer_pact(total: Any, specification: str = "V4") -> Pact:
    """The front desk's expectations of Decoda, as a consumer writes them with pact-python:
    a seeded charge read by its id, given the front-desk scenario."""
    pact = Pact("front-desk", "decoda-billing").with_specification(specification)
    (
        pact.upon_receiving("the seeded charge")
        .given(FRONT_DESK)
        .with_request("GET", f"/billing/charge/get/{CHARGE}")
        .with_header("TENANT", "front-desk")
        .with_header("API-KEY", "its-key")
        .will_respond_with(200)
        .with_body(
            {
                "id": match.str(CHARGE),
                "patientId": match.regex("pat_sandbox_0001", regex=r"^pat_\w+$"),
                "total": total,
                "status": match.regex("OUTSTANDING", regex=r"^(OUTSTANDING|PAID|VOIDED)$"),
                "items": match.each_like({"name": match.str("Consultation")}),
            },
            content_type="application/json",
        )
    )
    return pact


def candid_consumer_pact() -> Pact:
    """Candid's write-offs listed by a billing back office, as pact-python writes it."""
    pact = Pact("back-office", "candid-write-offs").with_specification("V4")
    (
        pact.upon_receiving("a page of write-offs")
        .with_request("GET", "/api/write-offs/v1")
        .with_query_parameter("limit", "2")
        .with_header("Authorization", match.regex("Bearer abc", regex=r"^Bearer .+$"))
        .will_respond_with(200)
        .with_body(
            {
                "items": match.each_like(
                    {
                        "write_off_id": match.uuid(),
                        "amount_cents": match.int(1200),
                        "write_off_timestamp": match.regex(
                            "2025-12-31T15:47:45Z", regex=r"^\d{4}-\d\d-\d\dT.+Z$"
                        ),
                    },
                    min=1,
                )
            },
            content_type="application/json",
        )
    )
    return pact


def consume(pact: Pact, folder: Path, calls: list[tuple[str, dict[str, str]]]) -> Path:
    """Run the consumer's calls against Pact's own mock server (which checks them) and write
    the pact file pact-python makes of them."""
    with pact.serve(addr="127.0.0.1") as mock:
        for path, headers in calls:
            answer = httpx.get(f"{mock.url}{path}", headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
    pact.write_file(folder, overwrite=True)
    [written] = folder.glob(f"{pact.consumer}-{pact.provider}.json")
    return written


def verify(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = contract(["verify", *args], environ={}, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("specification", "version"), [("V4", "4.0"), ("V3", "3.0.0")])
def test_pacts_pact_python_writes_pass_against_the_sandbox(
    sandbox: SandboxServer, tmp_path: Path, specification: str, version: str
) -> None:
    decoda = consume(
        decoda_consumer_pact(total=match.int(10000), specification=specification),
        tmp_path,
        [(f"/billing/charge/get/{CHARGE}", {"TENANT": "front-desk", "API-KEY": "its-key"})],
    )
    candid = consume(
        candid_consumer_pact(),
        tmp_path,
        [("/api/write-offs/v1?limit=2", {"Authorization": "Bearer abc"})],
    )
    written = json.loads(decoda.read_text())
    assert written["metadata"]["pactSpecification"]["version"] == version
    report = tmp_path / "results.json"
    code, out, err = verify(
        str(decoda), str(candid), "--against", sandbox.url, "--json", str(report)
    )
    assert (code, err) == (0, ""), out
    results = json.loads(report.read_text())
    outcomes = [i["result"] for p in results["pacts"] for i in p["interactions"]]
    assert outcomes == ["passed", "passed"]


def test_a_pact_expecting_a_field_of_the_wrong_type_fails_naming_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    # The consumer expects the total as a string of money; Decoda answers cents, an integer.
    decoda = consume(
        decoda_consumer_pact(total=match.str("100.00")),
        tmp_path,
        [(f"/billing/charge/get/{CHARGE}", {"TENANT": "front-desk", "API-KEY": "its-key"})],
    )
    junit = tmp_path / "results.xml"
    code, out, _ = verify(str(decoda), "--against", sandbox.url, "--junit-xml", str(junit))
    assert code == 1
    assert "$.total" in out
    assert "$.total" in junit.read_text()
    assert 'failures="1"' in junit.read_text()


def test_a_pact_exported_from_the_journal_passes_pact_python_s_own_verifier(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The loop closed the other way: our pact file, Pact's verifier, our state endpoint."""
    recorded = SandboxTenant("interop-recorded", sandbox.url)
    recorded.reset()
    applied = recorded.apply_scenario(FRONT_DESK)
    copay = applied["named"]["copay"]["id"]
    with httpx.Client(base_url=sandbox.url, headers=recorded.decoda_headers, timeout=10) as http:
        assert http.get("/billing/charge/list").status_code == 200
        assert http.get(f"/billing/charge/get/{copay}").status_code == 200
        assert http.get(f"/billing/charge/get/{CHARGE}").status_code == 200
    [pact] = recorded.pacts("front-desk")
    assert [s["name"] for s in pact["interactions"][1]["providerStates"]] == [FRONT_DESK]
    path = tmp_path / "front-desk-decoda-billing.json"
    path.write_text(json.dumps(pact))

    verifier = (
        Verifier("decoda-billing", host="127.0.0.1")
        .add_transport(url=sandbox.url)
        .add_source(str(path))
        .state_handler(
            f"{sandbox.url}/_sandbox/tenants/interop-verifier/provider-states",
            teardown=True,
            body=True,
        )
        .add_custom_headers({"TENANT": "interop-verifier", "API-KEY": "any-key"})
    )
    verifier.verify()  # raises, with Pact's own report, when an interaction fails
    # It ran on another tenant, where the copay charge the scenario made has another id: the
    # ProviderState generator put that tenant's id in place of the recorded one.
    verifier_tenant = SandboxTenant("interop-verifier", sandbox.url)
    read = [e.path for e in verifier_tenant.journal.entries(operation_id="getCharge")]
    assert f"/billing/charge/get/{CHARGE}" in read
    filled = [p for p in read if p != f"/billing/charge/get/{CHARGE}"]
    assert len(filled) == 1 and filled[0] != f"/billing/charge/get/{copay}"
