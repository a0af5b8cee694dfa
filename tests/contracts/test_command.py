"""`billing-sandbox contract verify` against a sandbox and a stand-in vendor, its reports and
its refusals; `contract check` wired to the static check."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from billing_sandbox import cli
from billing_sandbox.contracts import openapi, verifycommand
from billing_sandbox.contracts.command import CONTROL_TOKEN_VARIABLE, main
from billing_sandbox.contracts.urls import is_loopback
from billing_sandbox.settings import Settings
from tests.contracts.test_verify import serve_app
from tests.support.live import live_server

SECRET = "s3cret-key-never-shown"
ENV = {"BILLING_SANDBOX_CONFORMANCE_DECODA_API_KEY": SECRET}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with live_server() as url:
        yield url


def contract(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ={} if env is None else env, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def pact_file(
    directory: Path, *interactions: dict[str, Any], provider: str = "decoda-billing"
) -> Path:
    document = {
        "consumer": {"name": "front-desk"},
        "provider": {"name": provider},
        "interactions": list(interactions),
        "metadata": {"pactSpecification": {"version": "3.0.0"}},
    }
    path = directory / f"pact-{len(list(directory.iterdir()))}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def list_charges(total: Any = 100) -> dict[str, Any]:
    """Decoda's charge list: at least one charge, each with a string id and an integer total."""
    return {
        "description": "list the charges",
        "request": {"method": "GET", "path": "/billing/charge/list",
                    "headers": {"TENANT": "stale", "API-KEY": "[redacted]"}},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": [{"id": "chg_example", "total": total, "patientId": "pat_example"}],
            "matchingRules": {"body": {
                "$": {"matchers": [{"match": "type", "min": 1}]},
                "$[*].id": {"matchers": [{"match": "type"}]},
                "$[*].patientId": {"matchers": [{"match": "type"}]},
                "$[*].total": {"matchers": [{"match": "type"}]},
            }},
        },
    }  # fmt: skip


def test_a_pact_the_sandbox_honours_passes(sandbox: str, tmp_path: Path) -> None:
    pact = pact_file(tmp_path, list_charges())
    code, out, err = contract("verify", str(pact), "--against", sandbox)
    assert (code, err) == (0, ""), out
    assert "a billing-sandbox" in out
    assert "tenant 'contract-verify'" in out  # the default credentials, on a sandbox
    assert "#1 list the charges" in out
    assert out.rstrip().endswith("1 pact: 1 passed, 0 failed, 0 skipped")


def test_a_field_of_the_wrong_type_fails_naming_its_path(sandbox: str, tmp_path: Path) -> None:
    pact = pact_file(tmp_path, list_charges(total="100"))
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    code, out, err = contract(
        "verify", str(pact), "--against", sandbox, "--junit-xml", str(junit), "--json", str(report)
    )
    assert (code, err) == (1, ""), out
    assert "FAILED" in out
    assert "total" in out
    assert "\n1 pact: 0 passed, 1 failed, 0 skipped\n" in out

    root = ElementTree.parse(junit).getroot()  # noqa: S314 (the file this test made)
    (suite,) = root.iter("testsuite")
    assert suite.get("name", "").startswith("front-desk -> decoda-billing")
    assert (suite.get("tests"), suite.get("failures")) == ("1", "1")
    failure = suite.find("testcase/failure")
    assert failure is not None and "total" in (failure.text or "")

    document = json.loads(report.read_text())
    assert document["summary"] == {"passed": 0, "failed": 1, "skipped": 0}
    (interaction,) = document["pacts"][0]["interactions"]
    assert interaction["result"] == "failed"
    assert interaction["index"] == 0
    assert interaction["description"] == "list the charges"
    assert interaction["states"] == []
    assert any("total" in m["where"] + m["message"] for m in interaction["mismatches"])


def test_a_story_replays_with_the_ids_this_run_made(sandbox: str, tmp_path: Path) -> None:
    story = {"billing-sandbox": {"story": "front-desk-1"}}
    create = {
        "description": "create a charge",
        "comments": story,
        "request": {
            "method": "POST",
            "path": "/billing/payment-terminal/charge/create",
            "headers": {"Content-Type": "application/json"},
            "body": {"patientId": "pat_sandbox_0001", "totalOutstanding": 5000,
                     "description": "Follow-up visit",
                     "items": [{"itemId": "item_sandbox_0001", "quantity": 1, "price": 5000}]},
        },
        "response": {
            "status": 200,
            "body": {"id": "chg_recorded_0001", "status": "OUTSTANDING"},
            "matchingRules": {"body": {"$.id": {"matchers": [{"match": "type"}]}}},
        },
    }  # fmt: skip
    fetch = {
        "description": "get the charge it created",
        "comments": story,
        "request": {"method": "GET", "path": "/billing/charge/get/chg_recorded_0001"},
        # No matcher on the id: only the substitution makes the recorded id this run's.
        "response": {"status": 200, "body": {"id": "chg_recorded_0001", "total": 5000}},
    }
    code, out, err = contract("verify", str(pact_file(tmp_path, create, fetch)),
                              "--against", sandbox)  # fmt: skip
    assert (code, err) == (0, ""), out
    assert "2 passed" in out


def test_provider_states_set_up_scenario_packs_whose_values_fill_generators(
    sandbox: str, tmp_path: Path
) -> None:
    fetch = {
        "description": "get the overdue visit",
        "providerStates": [{"name": "decoda-overdue-clinic"}],
        "request": {
            "method": "GET",
            "path": "/billing/charge/get/chg_example",
            "generators": {"path": {"type": "ProviderState",
                                    "expression": "/billing/charge/get/${rivera_visit.id}"}},
        },
        "response": {"status": 200, "body": {"id": "chg_example", "status": "OUTSTANDING"},
                     "matchingRules": {"body": {"$.id": {"matchers": [{"match": "type"}]}}}},
    }  # fmt: skip
    unknown = {**list_charges(), "providerStates": [{"name": "A clinic nobody packed"}]}
    report = tmp_path / "report.json"
    code, out, err = contract("verify", str(pact_file(tmp_path, fetch, unknown)),
                              "--against", sandbox, "--json", str(report))  # fmt: skip
    assert (code, err) == (1, ""), out
    first, second = json.loads(report.read_text())["pacts"][0]["interactions"]
    assert (first["result"], first["states"]) == ("passed", ["decoda-overdue-clinic"]), first[
        "mismatches"
    ]
    assert second["result"] == "failed"
    (mismatch,) = second["mismatches"]
    assert mismatch["where"] == "provider state"
    assert "'A clinic nobody packed' is no state this sandbox knows" in mismatch["message"]
    assert "decoda-overdue-clinic" in mismatch["message"]


def vendor(kept: list[tuple[str, str]], status: int = 200) -> Starlette:
    """A stand-in vendor: answers anything with `{"ok": true}` (or `status` to every call),
    keeping each call and its TENANT header."""

    async def anything(request: HttpRequest) -> HttpResponse:
        kept.append((f"{request.method} {request.url.path}", request.headers.get("tenant", "")))
        return JSONResponse({"ok": True}, status)

    return Starlette(routes=[Route("/{rest:path}", anything, methods=["GET", "POST"])])


def a_write() -> dict[str, Any]:
    return {
        "description": "make a patient",
        "providerStates": [{"name": "a clinic", "params": {}}],
        "request": {"method": "POST", "path": "/v1/patient/create",
                    "headers": {"Content-Type": "application/json"}, "body": {"firstName": "A"}},
        "response": {"status": 200, "body": {"ok": True}},
    }  # fmt: skip


def a_read() -> dict[str, Any]:
    return {
        "description": "read something",
        "request": {"method": "GET", "path": "/v1/patient/list"},
        "response": {"status": 200, "body": {"ok": True}},
    }


CREDENTIALS = ("--decoda-tenant", "acme")


def test_a_vendor_gets_no_write_unless_allowed(tmp_path: Path) -> None:
    pact = str(pact_file(tmp_path, a_read(), a_write()))
    kept: list[tuple[str, str]] = []
    with serve_app(vendor(kept)) as url:
        code, out, err = contract("verify", pact, "--against", url, *CREDENTIALS, env=ENV)
        assert (code, err) == (0, ""), out
        assert "skipped" in out and "writes need --allow-writes" in out
        assert "POST /v1/patient/create" not in [call for call, _ in kept]
        assert "provider states not set" in out

        kept.clear()
        code, out, err = contract(
            "verify", pact, "--against", url, *CREDENTIALS, "--allow-writes", env=ENV
        )
    assert (code, err) == (0, ""), out
    assert ("POST /v1/patient/create", "acme") in kept  # sent, with our tenant
    assert SECRET not in out


def test_secrets_stay_out_of_the_reports(tmp_path: Path) -> None:
    # The vendor echoes nothing, but the failure message of a wrong answer holds what it said:
    # an answer holding the key must come out masked.
    async def echo(request: HttpRequest) -> HttpResponse:
        return JSONResponse({"key": request.headers.get("api-key", "")})

    app = Starlette(routes=[Route("/{rest:path}", echo)])
    pact = str(pact_file(tmp_path, {**a_read(), "response": {"status": 200,
                                                             "body": {"key": "x"}}}))  # fmt: skip
    report = tmp_path / "r.json"
    with serve_app(app) as url:
        code, out, err = contract(
            "verify", pact, "--against", url, *CREDENTIALS, "--json", str(report), env=ENV
        )
    assert code == 1, out + err
    assert SECRET not in out + err + report.read_text()
    assert "[masked]" in report.read_text()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--against", "ftp://x"], "must be an http(s) URL"),
        (["--against", "http://127.0.0.1:9"], "nothing answers at"),
    ],
)
def test_misuse_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], said: str) -> None:
    pact = pact_file(tmp_path, list_charges())
    code, _, err = contract("verify", str(pact), *argv)
    assert code == 2
    assert said in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_an_unreadable_pact_is_refused_with_its_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"consumer": {"name": "a"}, "provider": {"name": "b"},
                                  "interactions": [{"description": "x", "request": {},
                                                    "response": {"status": "200"}}]}))  # fmt: skip
    code, _, err = contract("verify", str(broken), "--against", "http://127.0.0.1:9")
    assert code == 2
    assert str(broken) in err and "status" in err
    assert err.count("\n") == 1


def test_an_unknown_provider_needs_api(sandbox: str, tmp_path: Path) -> None:
    pact = pact_file(tmp_path, list_charges(), provider="billing-service")
    code, _, err = contract("verify", str(pact), "--against", sandbox)
    assert code == 2
    assert "'billing-service'" in err and "--api" in err
    code, out, err = contract("verify", str(pact), "--against", sandbox, "--api", "decoda")
    assert (code, err) == (0, ""), out


def test_refused_credentials_are_misuse(tmp_path: Path) -> None:
    pact = str(pact_file(tmp_path, a_read()))
    with serve_app(vendor([], status=401)) as url:
        code, _, err = contract("verify", pact, "--against", url, *CREDENTIALS, env=ENV)
        assert code == 2
        assert "refused the credentials" in err
        code, _, err = contract("verify", pact, "--against", url)  # none given, not a sandbox
    assert code == 2
    assert "Decoda needs --decoda-tenant" in err


def test_too_many_interactions_are_refused(tmp_path: Path) -> None:
    pact = pact_file(tmp_path, a_read(), a_read(), a_read())
    code, _, err = contract("verify", str(pact), "--against", "http://127.0.0.1:9",
                            "--max-interactions", "2")  # fmt: skip
    assert code == 2
    assert "3 interactions, more than --max-interactions 2" in err


def test_no_pact_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        contract("verify", "--against", "http://127.0.0.1:9")
    assert exit_.value.code == 2


def test_the_command_is_registered_with_the_cli(tmp_path: Path) -> None:
    args = cli.parse_args(["contract", "verify", "p.json", "--against", "http://x"])
    assert (args.command, args.action, args.against) == ("contract", "verify", "http://x")


# ---------------------------------------------------------------------------------------------
# check

DECODA_SPEC = str(Settings().specs_dir / "decoda-billing.yaml")


def test_check_names_each_findings_interaction_location_and_reason(tmp_path: Path) -> None:
    moved = {**list_charges(), "description": "the old list",
             "request": {"method": "GET", "path": "/billing/charges"}}  # fmt: skip
    pact = pact_file(tmp_path, list_charges(), moved)
    code, out, err = contract("check", str(pact), "--spec", DECODA_SPEC)
    assert (code, err) == (1, ""), out
    assert "2 interactions, 1 finding" in out
    assert "  #2 the old list: paths: no operation answers GET /billing/charges" in out
    assert out.rstrip().endswith("1 finding")

    code, out, err = contract("check", str(pact_file(tmp_path, list_charges())),
                              "--spec", DECODA_SPEC)  # fmt: skip
    assert (code, err) == (0, ""), out
    assert out.rstrip().endswith("no finding")


def test_check_takes_a_journal_instead_of_pacts(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    calls = [
        {"seq": 1, "api": "decoda", "method": "GET", "path": "/billing/charge/list",
         "status": 200, "responseBody": "[]"},
        {"seq": 2, "api": "decoda", "method": "GET", "path": "/billing/nowhere", "status": 200},
    ]  # fmt: skip
    journal.write_text(json.dumps({"requests": calls}))
    code, out, err = contract("check", "--journal", str(journal), "--spec", DECODA_SPEC)
    assert (code, err) == (1, ""), out
    assert "#2 GET /billing/nowhere → 200: paths: no operation answers" in out


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("neither", "give pact files or --journal FILE"),
        ("both", "give pact files or --journal FILE"),
        ("no spec", "nope.yaml: no such file"),
        ("bad journal", "not JSON"),
    ],
)
def test_check_misuse_is_one_line_and_exit_2(tmp_path: Path, given: str, said: str) -> None:
    pact = str(pact_file(tmp_path, list_charges()))
    journal = tmp_path / "journal.json"
    journal.write_text("{oops")
    argv = {
        "neither": [],
        "both": [pact, "--journal", str(journal)],
        "no spec": [pact],
        "bad journal": ["--journal", str(journal)],
    }[given]
    spec = str(tmp_path / "nope.yaml") if given == "no spec" else DECODA_SPEC
    code, out, err = contract("check", *argv, "--spec", spec)
    assert (code, out) == (2, "")
    assert said in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# What the review found


def test_a_scenario_applied_part_way_through_a_story_is_set_up_for_its_later_calls(
    sandbox: str, tmp_path: Path
) -> None:
    tenant = "story-part-way"
    decoda = {"TENANT": tenant, "API-KEY": "any"}
    with httpx.Client(base_url=sandbox, timeout=10) as client:
        assert client.post(f"/_sandbox/tenants/{tenant}/reset").status_code == 200
        assert client.get("/billing/charge/list", headers=decoda).status_code == 200
        applied = client.post(
            f"/_sandbox/tenants/{tenant}/scenarios", json={"name": "decoda-overdue-clinic"}
        )
        charge = applied.json()["named"]["rivera_visit"]["id"]
        assert client.get(f"/billing/charge/get/{charge}", headers=decoda).status_code == 200
        exported = client.get(
            f"/_sandbox/tenants/{tenant}/pact",
            params={"consumer": "front-desk", "provider": "decoda-billing"},
        )
    document = exported.json()
    read, fetch = document["interactions"]
    assert (read["providerStates"], fetch["providerStates"]) == (
        [],
        [{"name": "decoda-overdue-clinic", "params": {}}],
    )
    pact = tmp_path / "story.json"
    pact.write_text(json.dumps(document))
    code, out, err = contract("verify", str(pact), "--against", sandbox)
    assert (code, err) == (0, ""), out
    assert out.rstrip().endswith("1 pact: 2 passed, 0 failed, 0 skipped")


def lookalike(kept: list[tuple[str, str]]) -> Starlette:
    """A server answering GET /_sandbox/health as a sandbox does, and anything else with
    `{"ok": true}`, keeping each call and the Authorization it carried."""

    async def health(_: HttpRequest) -> HttpResponse:
        return JSONResponse({"status": "ok", "apis": ["decoda"]})

    async def anything(request: HttpRequest) -> HttpResponse:
        kept.append((f"{request.method} {request.url.path}",
                     request.headers.get("authorization", "")))  # fmt: skip
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/_sandbox/health", health),
            Route("/{rest:path}", anything, methods=["GET", "POST"]),
        ]
    )


def test_a_lookalike_sandbox_off_loopback_is_a_vendor_unless_said_to_be_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verifycommand, "is_loopback", lambda _: False)  # as if it were elsewhere
    token = "control-token-for-a-sandbox-only"
    env = {**ENV, CONTROL_TOKEN_VARIABLE: token}
    pact = str(pact_file(tmp_path, a_read(), a_write()))
    report = tmp_path / "report.json"
    kept: list[tuple[str, str]] = []
    with serve_app(lookalike(kept)) as url:
        code, out, err = contract(
            "verify", pact, "--against", url, *CREDENTIALS, "--json", str(report), env=env
        )
        assert (code, err) == (0, ""), out
        calls = [call for call, _ in kept]
        assert not [call for call in calls if call.startswith("POST")], calls
        assert not [auth for _, auth in kept if token in auth]
        said = "answers like a billing-sandbox; pass --sandbox to reset it and set provider states"
        assert said in out
        document = json.loads(report.read_text())
        assert document["sandbox"] is False
        assert any(said in note for note in document["pacts"][0]["notes"])

        kept.clear()
        code, out, err = contract("verify", pact, "--against", url, *CREDENTIALS, "--sandbox",
                                  env=env)  # fmt: skip
    assert (code, err) == (0, ""), out
    assert ("POST /_sandbox/tenants/acme/reset", f"Bearer {token}") in kept
    assert ("POST /_sandbox/tenants/acme/provider-states", f"Bearer {token}") in kept
    assert ("POST /v1/patient/create", "") in kept  # a sandbox's writes are sent
    assert token not in out


def test_sandbox_given_for_a_server_that_is_none_is_misuse(tmp_path: Path) -> None:
    kept: list[tuple[str, str]] = []
    pact = str(pact_file(tmp_path, a_read()))
    with serve_app(vendor(kept)) as url:
        code, _, err = contract("verify", pact, "--against", url, *CREDENTIALS, "--sandbox",
                                env=ENV)  # fmt: skip
    assert code == 2
    assert "does not answer GET /_sandbox/health as a billing-sandbox does" in err
    assert [call for call, _ in kept] == ["GET /_sandbox/health"]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:8000/", True),
        ("http://[::ffff:127.0.0.1]:8000", True),
        ("http://LOCALHOST:8000", True),
        ("http://sandbox:8000", False),  # a container's name: --sandbox says so
        ("http://10.0.0.7:8000", False),
        ("http://localhost.example.com", False),
        ("http://[::2]", False),
    ],
)
def test_only_loopback_is_taken_for_this_machine(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_report_that_cannot_be_written_stops_the_run_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    pact = str(pact_file(tmp_path, a_read(), a_write()))
    kept: list[tuple[str, str]] = []
    with serve_app(vendor(kept)) as url:
        for flag, path, said in [
            ("--json", tmp_path / "absent" / "r.json", "its folder"),
            ("--junit-xml", tmp_path, "is a folder"),
        ]:
            code, out, err = contract("verify", pact, "--against", url, *CREDENTIALS,
                                      "--allow-writes", flag, str(path), env=ENV)  # fmt: skip
            assert (code, out) == (2, "")
            assert f"{flag} {path}: " in err and said in err
    assert kept == []  # not even the probe


def test_credentials_in_a_url_are_refused_and_never_shown(tmp_path: Path) -> None:
    pact = str(pact_file(tmp_path, list_charges()))
    password = "hunter2-in-the-url"
    code, out, err = contract(
        "verify", pact, "--against", f"http://someone:{password}@127.0.0.1:9/"
    )
    assert (code, out) == (2, "")
    assert password not in err and "someone" not in err
    assert "--against http://[masked]@127.0.0.1:9/" in err
    assert "give credentials by the flags and environment variables" in err

    code, out, err = contract("check", pact, "--spec",
                              f"HTTPS://{password}@127.0.0.1:9/spec.yaml")  # fmt: skip
    assert (code, out) == (2, "")
    assert password not in err
    assert "HTTPS://[masked]@127.0.0.1:9/spec.yaml: a user name or password" in err


@pytest.mark.parametrize("given", ["--spec", "--journal"])
def test_check_refuses_a_fifo_rather_than_waiting_on_it(tmp_path: Path, given: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def unblock() -> None:
        """Should the command open the FIFO, give it an end at once: the test then fails
        on what is said rather than hanging."""
        for _ in range(50):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # nobody reading yet
                time.sleep(0.05)

    threading.Thread(target=unblock, daemon=True).start()
    pact = str(pact_file(tmp_path, list_charges()))
    argv = {
        "--spec": [pact, "--spec", str(fifo)],
        "--journal": ["--journal", str(fifo), "--spec", DECODA_SPEC],
    }[given]
    code, out, err = contract("check", *argv)
    assert (code, out) == (2, "")
    assert f"{fifo}: not a file" in err


def test_check_gives_up_on_a_spec_dripped_a_byte_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi, "FETCH_TIMEOUT_SECONDS", 0.5)

    async def drip(_: HttpRequest) -> HttpResponse:
        async def bytes_slowly() -> AsyncIterator[bytes]:
            for _ in range(60):  # 3 s in all, each byte well within a read's timeout
                yield b" "
                await asyncio.sleep(0.05)

        return StreamingResponse(bytes_slowly(), media_type="application/yaml")

    pact = str(pact_file(tmp_path, list_charges()))
    with serve_app(Starlette(routes=[Route("/spec.yaml", drip)])) as url:
        started = time.monotonic()
        code, out, err = contract("check", pact, "--spec", f"{url}/spec.yaml")
        assert time.monotonic() - started < 1.5
    assert (code, out) == (2, "")
    assert "no whole answer within 0.5 s" in err
