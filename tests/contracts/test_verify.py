"""Replaying a pact: the request each interaction sends (substitutions, generators, our
credentials), and the verification's provider states, stories and results against stand-in
servers on loopback (the whole command against a real sandbox is test_command.py's)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import socket
import socketserver
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, StreamingResponse
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
    RuleSet,
)
from billing_sandbox.contracts.replay import (
    CannotPrepare,
    Signing,
    expected_response,
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
    """Answers as a sandbox does: health, resets, provider states (`a charge` and `another
    charge` set up a charge each and answer its id), and a charge by id."""

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
        answers = {
            "a charge": {"charge.id": "chg_made"},
            "another charge": {"other.id": "chg_other"},
        }
        if change["state"] not in answers:
            return JSONResponse({"error": "UnknownScenario", "message": "unknown",
                                 "available": list(answers)}, 404)  # fmt: skip
        return JSONResponse(answers[change["state"]] if change["action"] == "setup" else {})

    async def charge(request: HttpRequest) -> JSONResponse:
        kept.calls.append((f"GET {request.url.path}", dict(request.headers)))
        charge_id = request.path_params["id"]
        return JSONResponse({"id": charge_id, "total": 5000},
                            headers={"Location": f"/billing/charge/get/{charge_id}"})  # fmt: skip

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
    assert (
        "'no such state' is no state this sandbox knows (it knows: a charge, another charge)"
        in only.reasons[0]
    )
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
    assert only.reasons == ["request: GET /slow: no whole answer within 0.2 s"]


# ---------------------------------------------------------------------------------------------
# A whole answer within the timeout


def test_an_answer_dripped_a_byte_at_a_time_fails_at_the_deadline() -> None:
    async def drip(_: HttpRequest) -> HttpResponse:
        async def bytes_slowly() -> AsyncIterator[bytes]:
            for _ in range(60):  # 3 s in all, each byte well within a read's timeout
                yield b" "
                await asyncio.sleep(0.05)

        return StreamingResponse(bytes_slowly(), media_type="application/json")

    pact = Pact("app", "decoda-billing", "3.0.0", (interaction(Request("GET", "/drip")),))
    with serve_app(Starlette(routes=[Route("/drip", drip)])) as url, httpx.Client() as client:
        hasty = Target(url, DECODA, sandbox=False, timeout_seconds=0.5)
        started = time.monotonic()
        result = verify_pact(pact, hasty, client)
        assert time.monotonic() - started < 1.5
    (only,) = result.interactions
    assert only.reasons == ["request: GET /drip: no whole answer within 0.5 s"]


@contextmanager
def dripping_head() -> Iterator[str]:
    """A server that answers every request with a status line, then a header line every
    0.05 s for 3 s: a head that never ends within any sane deadline."""

    class Drip(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            try:
                self.request.sendall(b"HTTP/1.1 200 OK\r\n")
                for count in range(60):
                    self.request.sendall(b"X-Slow-%d: y\r\n" % count)
                    time.sleep(0.05)
            except OSError:
                return  # the client cut it: the point

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Drip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_head_dripped_a_line_at_a_time_fails_at_the_deadline() -> None:
    pact = Pact("app", "decoda-billing", "3.0.0", (interaction(Request("GET", "/head")),))
    with dripping_head() as url, httpx.Client() as client:
        started = time.monotonic()
        with pytest.raises(CannotVerify, match=r"no whole answer within 0.5 s"):
            probe(client, url, timeout=0.5)
        hasty = Target(url, DECODA, sandbox=False, timeout_seconds=0.5)
        result = verify_pact(pact, hasty, client)
        assert time.monotonic() - started < 2.5
    (only,) = result.interactions
    assert only.reasons == ["request: GET /head: no whole answer within 0.5 s"]


# ---------------------------------------------------------------------------------------------
# A story's provider states, and the states' values in the expected answer


def test_a_story_sets_up_the_states_each_interaction_adds_and_merges_their_values() -> None:
    def fetch(index: int, states: tuple[str, ...], value: str) -> Interaction:
        request = Request(
            "GET",
            "/billing/charge/get/chg_example",
            generators={"path": {"": {"type": "ProviderState",
                                      "expression": f"/billing/charge/get/${{{value}}}"}}},
        )  # fmt: skip
        response = Response(200, body={"id": "chg_example", "total": 5000}, has_body=True,
                            rules={"body": {"$.id": RuleSet(({"match": "type"},))}})  # fmt: skip
        made = tuple(ProviderState(name) for name in states)
        return interaction(request, response, index=index, states=made, story="t1")

    pact = Pact(
        "app",
        "decoda-billing",
        "4.0",
        (
            fetch(0, ("a charge",), "charge.id"),
            fetch(1, ("a charge", "another charge"), "other.id"),  # applied mid-story
            fetch(2, ("a charge", "another charge"), "charge.id"),  # nothing new: none set
            fetch(3, ("another charge",), "other.id"),  # not what the story holds
        ),
    )
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        result = verify_pact(pact, target(url), client)
    assert [r.result for r in result.interactions] == [PASSED, PASSED, PASSED, FAILED]
    assert result.interactions[3].reasons == [
        "provider state: its provider states ('another charge') do not continue its story's "
        "('a charge', 'another charge'): a story's states only grow, a scenario at a time"
    ]
    assert [call for call, _ in kept.calls] == [
        "reset t1",
        "setup a charge",
        "GET /billing/charge/get/chg_made",
        "setup another charge",
        "GET /billing/charge/get/chg_other",  # the value the later setup answered
        "GET /billing/charge/get/chg_made",  # and the earlier one's still there
        "teardown a charge",
        "teardown another charge",
    ]


def test_provider_state_generators_in_the_response_are_run_on_the_expected_answer() -> None:
    request = Request(
        "GET",
        "/billing/charge/get/chg_example",
        generators={"path": {"": {"type": "ProviderState",
                                  "expression": "/billing/charge/get/${charge.id}"}}},
    )  # fmt: skip
    response = Response(
        200,
        headers={"Location": "/billing/charge/get/chg_example"},
        body={"id": "chg_example", "total": 5000},
        has_body=True,
        generators={
            "body": {"$.id": {"type": "ProviderState", "expression": "${charge.id}"}},
            "header": {"location": {"type": "ProviderState",
                                    "expression": "/billing/charge/get/${charge.id}"}},
        },
    )  # fmt: skip
    made = interaction(request, response, states=(ProviderState("a charge"),))
    pact = Pact("app", "decoda-billing", "4.0", (made,))
    kept = StandIn()
    with serve_app(stand_in_sandbox(kept)) as url, httpx.Client(timeout=5) as client:
        result = verify_pact(pact, target(url), client)
    (only,) = result.interactions
    assert only.result == PASSED, only.reasons  # chg_made expected, not the example


def test_a_response_generator_without_a_value_keeps_the_example_and_says_so() -> None:
    response = Response(
        200,
        body={"id": "chg_example"},
        has_body=True,
        generators={"body": {"$.id": {"type": "ProviderState", "expression": "${gone}"},
                             "$.x": {"type": "RandomInt"}}},
    )  # fmt: skip
    expected, notes = expected_response(response, {"charge.id": "chg_made"})
    assert expected.body == {"id": "chg_example"}
    assert notes == [
        "response body $.id: ProviderState generator '${gone}' needs 'gone', which no "
        "provider-state setup answered (they answered charge.id); the example is expected"
    ]
    _, notes = expected_response(response, None)
    assert notes == ["response body $.id: ProviderState generator '${gone}' kept its example: "
                     "no provider state was set"]  # fmt: skip
