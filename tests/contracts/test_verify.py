"""Replaying a pact: the request each interaction sends (substitutions, generators, our
credentials), and the verification's provider states, stories and results against stand-in
servers on loopback (the whole command against a real sandbox is test_command.py's)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from billing_sandbox.conformance.apis import APIS
from billing_sandbox.contracts.model import (
    Interaction,
    Pact,
    ProviderState,
    Request,
    Response,
)
from billing_sandbox.contracts.replay import (
    CannotPrepare,
    Signing,
    format_moment,
    learn,
    prepare,
    signing_for,
)
from billing_sandbox.contracts.verify import (
    FAILED,
    PASSED,
    SKIPPED,
    CannotVerify,
    Target,
    probe,
    stories,
    verify_pact,
)
from billing_sandbox.settings import Settings

DECODA = Signing({"TENANT": "ours", "API-KEY": "our-key"}, {}, frozenset({"authorization",
                  "tenant", "api-key"}))  # fmt: skip


def interaction(
    request: Request,
    response: Response | None = None,
    *,
    index: int = 0,
    states: tuple[ProviderState, ...] = (),
    story: str | None = None,
) -> Interaction:
    return Interaction(
        index=index,
        description=f"call {index}",
        provider_states=states,
        request=request,
        response=response or Response(200),
        story=story,
    )


# ---------------------------------------------------------------------------------------------
# The request


def test_our_credentials_replace_the_pacts_and_transport_headers_are_left_to_the_client() -> None:
    request = Request(
        "GET",
        "/billing/charge/list",
        headers={"tenant": "recorded", "Api-Key": "[redacted]", "Authorization": "Bearer old",
                 "Host": "vendor.example", "Content-Length": "9", "Accept": "application/json"},
    )  # fmt: skip
    sent = prepare(interaction(request), DECODA, {}, None)
    assert sent.headers == {"Accept": "application/json", "TENANT": "ours", "API-KEY": "our-key"}


def test_signing_follows_the_specs_security_schemes() -> None:
    specs = Settings().specs_dir
    decoda = signing_for(specs / APIS["decoda"].spec_file, {"Tenant": "t", "ApiKey": "k"})
    assert decoda.headers == {"TENANT": "t", "API-KEY": "k"}
    assert decoda.credential_headers == {"authorization", "tenant", "api-key"}
    candid = signing_for(specs / APIS["candid"].spec_file, {"BearerAuth": "tok"})
    assert candid.headers == {"Authorization": "Bearer tok"}


def test_learnt_values_are_substituted_whole_in_path_query_headers_and_body() -> None:
    request = Request(
        "POST",
        "/billing/charge/get/chg_recorded",
        query={"charge_id": ["chg_recorded"], "other": ["chg_recorded-and-more"]},
        headers={"X-Charge": "chg_recorded", "Content-Type": "application/json"},
        body={"ids": ["chg_recorded", "keep"], "note": "about chg_recorded"},
        has_body=True,
    )
    sent = prepare(interaction(request), Signing(), {"chg_recorded": "chg_new"}, None)
    assert sent.path == "/billing/charge/get/chg_new"
    assert ("charge_id", "chg_new") in sent.query
    assert ("other", "chg_recorded-and-more") in sent.query  # not whole: left
    assert sent.headers["X-Charge"] == "chg_new"
    assert json.loads(sent.content or b"") == {"ids": ["chg_new", "keep"],
                                               "note": "about chg_recorded"}  # fmt: skip


def test_a_path_is_put_on_the_wire_percent_encoded_and_rooted() -> None:
    sent = prepare(interaction(Request("GET", "things/a b?c#d")), Signing(), {}, None)
    assert sent.path == "/things/a%20b%3Fc%23d"


def test_provider_state_generators_take_the_setup_answers() -> None:
    request = Request(
        "POST",
        "/billing/charge/get/placeholder",
        body={"chargeId": "placeholder", "amount": 1, "items": [{"id": "x"}, {"id": "y"}]},
        has_body=True,
        headers={"Content-Type": "application/json"},
        generators={
            "path": {
                "": {"type": "ProviderState", "expression": "/billing/charge/get/${charge.id}"}
            },
            "body": {
                "$.chargeId": {"type": "ProviderState", "expression": "${charge.id}"},
                "$.amount": {"type": "ProviderState", "expression": "${charge.total}"},
                "$.items[*].id": {"type": "ProviderState", "expression": "${charge.id}"},
            },
        },
    )
    values = {"charge.id": "chg_1234", "charge.total": 5000}
    sent = prepare(interaction(request), Signing(), {}, values)
    assert sent.path == "/billing/charge/get/chg_1234"
    body = json.loads(sent.content or b"")
    assert body == {"chargeId": "chg_1234", "amount": 5000,
                    "items": [{"id": "chg_1234"}, {"id": "chg_1234"}]}  # fmt: skip


def test_a_provider_state_value_no_setup_answered_is_a_failure_naming_it() -> None:
    request = Request(
        "GET", "/x", generators={"path": {"": {"type": "ProviderState", "expression": "/${gone}"}}}
    )
    with pytest.raises(CannotPrepare, match=r"'gone'.*no provider-state setup answered"):
        prepare(interaction(request), Signing(), {}, {"charge.id": "c"})
    # Where no state could be set at all, the example is sent, and that is noted.
    sent = prepare(interaction(request), Signing(), {}, None)
    assert sent.path == "/x"
    assert any("kept its example" in note for note in sent.notes)


def test_random_generators_make_values_of_their_kind() -> None:
    request = Request(
        "POST",
        "/x",
        body={"u": "", "n": 0, "s": "", "h": "", "d": 0, "b": None, "day": "", "at": "",
              "odd": "example"},
        has_body=True,
        generators={"body": {
            "$.u": {"type": "Uuid", "format": "simple"},
            "$.n": {"type": "RandomInt", "min": 3, "max": 5},
            "$.s": {"type": "RandomString", "size": 7},
            "$.h": {"type": "RandomHexadecimal", "digits": 6},
            "$.d": {"type": "RandomDecimal", "digits": 5},
            "$.b": {"type": "RandomBoolean"},
            "$.day": {"type": "Date", "format": "yyyy-MM-dd"},
            "$.at": {"type": "DateTime"},
            "$.odd": {"type": "MockServerURL"},
        }},
    )  # fmt: skip
    sent = prepare(interaction(request), Signing(), {}, None)
    body = json.loads(sent.content or b"")
    assert re.fullmatch(r"[0-9a-f]{32}", body["u"])
    assert 3 <= body["n"] <= 5
    assert re.fullmatch(r"[A-Za-z0-9]{7}", body["s"])
    assert re.fullmatch(r"[0-9a-f]{6}", body["h"])
    assert isinstance(body["d"], float)
    assert isinstance(body["b"], bool)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", body["day"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", body["at"])
    assert body["odd"] == "example"
    assert any("MockServerURL not run" in note for note in sent.notes)


def test_java_date_patterns_are_formatted_and_unknown_letters_refused() -> None:
    moment = datetime.datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=datetime.UTC)
    assert format_moment(moment, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX") == "2026-03-04T05:06:07.891Z"
    assert format_moment(moment, "d/M/yy h:mm a") == "4/3/26 5:06 AM"
    with pytest.raises(ValueError, match="'QQ'"):
        format_moment(moment, "QQ")


def test_a_generator_path_that_is_not_json_path_is_noted_and_the_body_kept() -> None:
    request = Request(
        "POST", "/x", body={"a": 1}, has_body=True,
        generators={"body": {"$[oops": {"type": "RandomInt"}}},
    )  # fmt: skip
    sent = prepare(interaction(request), Signing(), {}, None)
    assert json.loads(sent.content or b"") == {"a": 1}
    assert any("generator not run" in note for note in sent.notes)


def test_learning_pairs_differing_strings_at_the_same_place() -> None:
    learnt: dict[str, str] = {}
    recorded = {"id": "chg_old", "status": "OPEN", "items": [{"id": "chi_old"}], "n": 1, "x": "ab"}
    answered = {"id": "chg_new", "status": "OPEN", "items": [{"id": "chi_new"}], "n": 2, "x": "cd"}
    learn(recorded, answered, learnt)
    assert learnt == {"chg_old": "chg_new", "chi_old": "chi_new"}  # "ab" is too short


def test_interactions_of_one_story_group_together_and_others_stand_alone() -> None:
    made = [
        interaction(Request("GET", "/"), index=0),
        interaction(Request("GET", "/"), index=1, story="a"),
        interaction(Request("GET", "/"), index=2, story="a"),
        interaction(Request("GET", "/"), index=3, story="b"),
        interaction(Request("GET", "/"), index=4),
        interaction(Request("GET", "/"), index=5),
        interaction(Request("GET", "/"), index=6, story="a"),
    ]
    groups = [[i.index for i in group] for group in stories(made)]
    assert groups == [[0], [1, 2], [3], [4], [5], [6]]


# ---------------------------------------------------------------------------------------------
# Stand-in servers


@contextmanager
def serve_app(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port until the block ends; yields its URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 5
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "it did not start"
                time.sleep(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=5)


@dataclass
class StandIn:
    """A server that keeps every call made to it (`METHOD path` and its JSON body)."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    control_status: int = 200


def stand_in_sandbox(kept: StandIn) -> Starlette:
    """Answers as a sandbox does: health, resets, provider states (`charge` sets up a charge
    and answers its id), and a charge by id."""

    async def health(_: HttpRequest) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": "0", "apis": ["decoda"]})

    async def reset(request: HttpRequest) -> JSONResponse:
        kept.calls.append((f"reset {request.path_params['tenant']}", None))
        if kept.control_status != 200:
            return JSONResponse({"error": "Unauthorized", "message": "no"}, kept.control_status)
        return JSONResponse({"reset": request.path_params["tenant"]})

    async def states(request: HttpRequest) -> JSONResponse:
        change = await request.json()
        kept.calls.append((f"{change['action']} {change['state']}", change.get("params")))
        if change["state"] != "a charge":
            return JSONResponse({"error": "UnknownScenario", "message": "unknown",
                                 "available": ["a charge"]}, 404)  # fmt: skip
        return JSONResponse({"charge.id": "chg_made"} if change["action"] == "setup" else {})

    async def charge(request: HttpRequest) -> JSONResponse:
        kept.calls.append((f"GET {request.url.path}", dict(request.headers)))
        return JSONResponse({"id": request.path_params["id"], "total": 5000})

    return Starlette(
        routes=[
            Route("/_sandbox/health", health),
            Route("/_sandbox/tenants/{tenant}/reset", reset, methods=["POST"]),
            Route("/_sandbox/tenants/{tenant}/provider-states", states, methods=["POST"]),
            Route("/billing/charge/get/{id}", charge),
        ]
    )


def a_charge_pact(*states: str, expected: dict[str, Any] | None = None) -> Pact:
    request = Request(
        "GET",
        "/billing/charge/get/chg_example",
        generators={"path": {"": {"type": "ProviderState",
                                  "expression": "/billing/charge/get/${charge.id}"}}},
    )  # fmt: skip
    response = Response(200, body=expected or {"id": "chg_made", "total": 5000}, has_body=True)
    made = interaction(request, response, states=tuple(ProviderState(s, {"n": 1}) for s in states))
    return Pact("app", "decoda-billing", "3.0.0", (made,), source="charge.json")


def target(url: str, *, sandbox: bool = True, tenant: str | None = "t1") -> Target:
    return Target(url, DECODA, sandbox=sandbox, tenant=tenant, control_token="ctl")


def test_a_lone_interaction_is_reset_set_up_sent_and_torn_down_in_that_order() -> None:
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        assert probe(client, url) == ("decoda",)
        result = verify_pact(a_charge_pact("a charge"), target(url), client)
    assert [r.result for r in result.interactions] == [PASSED], result
    assert [call for call, _ in kept.calls] == [
        "reset t1", "setup a charge", "GET /billing/charge/get/chg_made", "teardown a charge",
    ]  # fmt: skip
    assert kept.calls[1][1] == {"n": 1}
    assert kept.calls[2][1]["tenant"] == "ours"  # our credentials, not the pact's


def test_an_unknown_state_fails_the_interaction_naming_the_states_the_sandbox_knows() -> None:
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        result = verify_pact(a_charge_pact("no such state"), target(url), client)
    (only,) = result.interactions
    assert only.result == FAILED
    assert "'no such state' is no state this sandbox knows (it knows: a charge)" in only.reasons[0]
    assert not any(call.startswith("GET") for call, _ in kept.calls)  # not sent


def test_a_refused_control_call_stops_the_run() -> None:
    kept = StandIn(control_status=401)
    with (
        serve_app(stand_in_sandbox(kept)) as url,
        httpx.Client(timeout=5) as client,
        pytest.raises(CannotVerify, match="control token"),
    ):
        verify_pact(a_charge_pact("a charge"), target(url), client)


def test_without_a_tenant_no_state_is_set_and_that_is_noted() -> None:
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        result = verify_pact(a_charge_pact("a charge", expected={"id": "chg_example",
                                                                 "total": 5000}),
                             target(url, tenant=None), client)  # fmt: skip
    (only,) = result.interactions
    assert only.result == PASSED
    assert [call for call, _ in kept.calls] == ["GET /billing/charge/get/chg_example"]
    assert any("credentials name no tenant" in note for note in only.notes)


def test_a_mismatch_fails_with_the_place_it_differs() -> None:
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        pact = a_charge_pact("a charge", expected={"id": "chg_made", "total": "5000"})
        result = verify_pact(pact, target(url), client)
    (only,) = result.interactions
    assert only.result == FAILED
    assert any("$.total" in reason for reason in only.reasons), only.reasons


def vendor(kept: StandIn) -> Starlette:
    """A vendor's server: no /_sandbox, and it keeps whatever is sent to it."""

    async def anything(request: HttpRequest) -> HttpResponse:
        kept.calls.append((f"{request.method} {request.url.path}", await request.body()))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/{rest:path}", anything, methods=["GET", "POST"])])


def test_a_vendor_gets_reads_only_unless_writes_are_allowed() -> None:
    read = interaction(Request("GET", "/r"), Response(200, body={"ok": True}, has_body=True))
    write = interaction(Request("POST", "/w", body={"a": 1}, has_body=True), index=1,
                        states=(ProviderState("a charge"),))  # fmt: skip
    pact = Pact("app", "decoda-billing", "3.0.0", (read, write))
    kept = StandIn()
    with serve_app(vendor(kept)) as url, httpx.Client(timeout=5) as client:
        assert probe(client, url) is None
        plain = verify_pact(pact, target(url, sandbox=False, tenant=None), client)
        allowed = Target(url, DECODA, sandbox=False, allow_writes=True)
        written = verify_pact(pact, allowed, client)
    assert [r.result for r in plain.interactions] == [PASSED, SKIPPED]
    assert plain.interactions[1].reasons == ["writes need --allow-writes"]
    assert any("not a billing-sandbox" in note for note in plain.notes)
    assert written.interactions[1].result == PASSED  # sent this time
    assert [call for call, _ in kept.calls] == ["GET /_sandbox/health", "GET /r", "GET /r",
                                                "POST /w"]  # fmt: skip


def test_an_answer_past_the_cap_fails_without_being_read_whole() -> None:
    async def big(_: HttpRequest) -> HttpResponse:
        return HttpResponse(b"x" * 200_000)

    pact = Pact("app", "decoda-billing", "3.0.0", (interaction(Request("GET", "/big")),))
    with serve_app(Starlette(routes=[Route("/big", big)])) as url, httpx.Client() as client:
        small = Target(url, DECODA, sandbox=False, max_answer_bytes=100_000)
        result = verify_pact(pact, small, client)
    (only,) = result.interactions
    assert only.result == FAILED
    assert "larger than 100000 bytes" in only.reasons[0]


def test_nothing_answering_is_cannot_verify() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        with httpx.Client(timeout=2) as client, pytest.raises(CannotVerify, match="nothing"):
            probe(client, f"http://127.0.0.1:{port}")


def test_a_slow_answer_fails_after_the_timeout() -> None:
    async def slow(_: HttpRequest) -> HttpResponse:
        await asyncio.sleep(1)
        return JSONResponse({})

    pact = Pact("app", "decoda-billing", "3.0.0", (interaction(Request("GET", "/slow")),))
    with serve_app(Starlette(routes=[Route("/slow", slow)])) as url, httpx.Client() as client:
        hasty = Target(url, DECODA, sandbox=False, timeout_seconds=0.2)
        started = time.monotonic()
        result = verify_pact(pact, hasty, client)
        assert time.monotonic() - started < 0.9
    (only,) = result.interactions
    assert only.result == FAILED
    assert only.reasons == ["request: GET /slow: no answer within 0.2 s"]
