"""Sizes a client chooses are bounded before they are paid for: JSON nesting (in every body and
every Socket.IO event), the ids that name tenants, bodies outside the specs' routes, and how
much of any value a log line shows. Past a bound: a 4xx in the vendor's envelope, naming the
bound; nothing changes, nothing crashes, no traceback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.cli import parse_args
from billing_sandbox.cli.serve import settings_of
from billing_sandbox.observe import requestlog
from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, patient_item
from tests.decoda.helpers import CREATE, PATIENT, creds
from tests.mycure.helpers import FACILITY, HMO, ORG

LOOPBACK = "http://127.0.0.1"
DEPTH = 64  # the documented limit on a body's nesting
# Any property below runs this many examples: enough to cover every style of nesting.
EXAMPLES = 40
SOAS = "/billing-soas"


def nested(depth: int) -> Any:
    """A value `depth` arrays deep."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def deep_json(depth: int, styles: list[bool]) -> bytes:
    """`depth` levels of arrays and objects (each level by `styles`, in turn), as bytes: too
    deep for Python's `json` or orjson to write."""
    opening, closing = b"", b""
    for level in range(depth):
        if styles[level % len(styles)]:
            opening, closing = opening + b"[", b"]" + closing
        else:
            opening, closing = opening + b'{"k":', b"}" + closing
    return opening + b"0" + closing


def raw_nested(depth: int) -> bytes:
    """`depth` levels of arrays, as bytes."""
    return b"[" * depth + b"]" * depth


class Client:
    """An in-process client whose calls return answers (hypothesis drives plain functions):
    each runs on the client's own event loop."""

    def __init__(self, app: Starlette) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url=LOOPBACK)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(url, **options))

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(url, **options))

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.put(url, **options))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@contextmanager
def client_of(app: Starlette) -> Iterator[Client]:
    client = Client(app)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def http() -> Iterator[Client]:
    with client_of(create_app(Settings(records=5))) as client:
        yield client


@pytest.fixture(scope="module")
def candid(http: Client) -> dict[str, str]:
    token = http.post("/api/auth/v2/token", json={"client_id": "acme", "client_secret": "s"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
def mycure(http: Client) -> dict[str, str]:
    body = {"strategy": "local", "email": f"ana@{ORG}", "password": "p"}
    token = http.post("/authentication", json=body).json()["accessToken"]
    return {"Authorization": f"Bearer {token}"}


def tenants(http: Client) -> list[str]:
    listing = http.get("/_sandbox/tenants")
    assert listing.status_code == 200, listing.text
    return sorted(tenant["id"] for tenant in listing.json()["tenants"])


def no_crash_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not crashes, [r.getMessage() for r in crashes]


# ---- JSON depth ----


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    depth=st.integers(DEPTH, 3000),
    styles=st.lists(st.booleans(), min_size=1, max_size=5),
    api=st.sampled_from(["candid", "decoda", "mycure"]),
)
def test_any_body_nested_past_the_limit_is_refused_in_the_vendors_envelope(
    http: Client,
    candid: dict[str, str],
    mycure: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    depth: int,
    styles: list[bool],
    api: str,
) -> None:
    # A body the API takes, with one more field: the nested value, under a string whose
    # brackets do not count. The body is `depth` + 1 levels deep: one past the limit at least.
    if api == "candid":
        listing, write, headers = WRITE_OFFS, WRITE_OFFS, candid
        base: dict[str, Any] = {"write_offs": [patient_item()]}
    elif api == "decoda":
        listing, write, headers = "/billing/charge/list", CREATE, creds()
        base = {"patientId": PATIENT, "totalOutstanding": 100}
    else:
        listing, write, headers = SOAS, SOAS, mycure
        base = {"facility": FACILITY, "type": "organization", "customer": HMO}
    content = orjson.dumps({**base, "padding": "]]]}}}"})[:-1]
    content += b', "deep": ' + deep_json(depth, styles) + b"}"
    before = http.get(listing, headers=headers).json()
    response = http.post(
        write, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    message = f"request body nests {depth + 1} levels of arrays and objects deep; "
    message += f"the sandbox accepts at most {DEPTH}"
    if api == "candid":
        assert response.status_code == 400, response.text
        assert response.json() == {"errorName": "BadRequestError", "content": {"message": message}}
    elif api == "decoda":
        assert response.status_code == 422, response.text
        detail = [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
        assert response.json() == {"detail": detail}
    else:
        assert response.status_code == 400, response.text
        assert response.json() == {
            "name": "BadRequest",
            "message": message,
            "code": 400,
            "className": "bad-request",
            "errors": {},
        }
    assert http.get(listing, headers=headers).json() == before
    no_crash_logged(caplog)


def test_a_body_nested_to_the_limit_is_accepted_and_one_level_more_is_not(
    http: Client,
) -> None:
    # Brackets inside strings are text, not nesting.
    text = "[{" * 5000
    # The body (1), its `meta` (2) and 62 levels in it: 64.
    meta = {"t": text, "n": nested(DEPTH - 2)}
    at_limit = {"patientId": PATIENT, "totalOutstanding": 100, "meta": meta}
    made = http.post(CREATE, json=at_limit, headers=creds())
    assert made.status_code == 200, made.text
    assert made.json()["meta"]["t"] == text
    one_more = {**at_limit, "meta": nested(DEPTH)}
    refused = http.post(CREATE, json=one_more, headers=creds())
    assert refused.status_code == 422, refused.text
    assert f"nests {DEPTH + 1} levels" in refused.json()["detail"][0]["msg"]


def test_a_snapshot_nested_too_deep_is_refused_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with client_of(create_app(Settings(records=5))) as http:
        assert http.get("/billing/charge/list", headers=creds()).status_code == 200
        state = http.get("/_sandbox/state")
        assert state.status_code == 200
        tenants = b'{"format": "billing-sandbox/1", "tenants": {"acme": '
        response = http.put("/_sandbox/state", content=tenants + raw_nested(2000) + b"}}")
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "MalformedBody"
        assert "nests 2002 levels of arrays and objects deep" in body["message"]
        assert http.get("/_sandbox/state").content == state.content
        # The sandbox's own export nests far less deep than the limit: it imports back.
        again = http.put("/_sandbox/state", content=state.content)
        assert again.status_code == 200, again.text
        assert http.get("/_sandbox/state").content == state.content
    no_crash_logged(caplog)


def test_an_export_holding_a_body_nested_to_the_vendor_limit_imports_back() -> None:
    with client_of(create_app(Settings(records=5))) as http:
        # `meta` is a free-form object: one object deep, then arrays to the vendor limit.
        body = {"patientId": PATIENT, "totalOutstanding": 100, "meta": {"deep": nested(DEPTH - 3)}}
        created = http.post(CREATE, json=body, headers=creds())
        assert created.status_code == 200, created.text
        state = http.get("/_sandbox/state").content
        again = http.put("/_sandbox/state", content=state)
        assert again.status_code == 200, again.text
        assert http.get("/_sandbox/state").content == state


# ---- Socket.IO (MYCURE's real-time events), over Engine.IO's polling transport ----


@pytest.fixture
def socket_app() -> Starlette:
    return create_app(Settings(records=5, max_body_bytes=4096))


@pytest.fixture
async def polling(socket_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=socket_app)
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK, timeout=5) as client:
        yield client


async def open_socket(client: httpx.AsyncClient) -> dict[str, str]:
    """A polling session's query (Engine.IO 3, as Feathers 4 clients speak it)."""
    query = {"EIO": "3", "transport": "polling", "b64": "1"}
    opened = await client.get("/socket.io/", params=query)
    assert opened.status_code == 200, opened.text
    text = opened.text
    sid = json.loads(text[text.index("{") : text.index("}") + 1])["sid"]
    return {**query, "sid": sid}


def payload(*packets: str) -> bytes:
    """Engine.IO 3's text payload: each packet after its length."""
    return "".join(f"{len(packet)}:{packet}" for packet in packets).encode()


async def ack_of(client: httpx.AsyncClient, query: dict[str, str], event: str) -> Any:
    """Send `event` (asking for ack 1) and wait for its ack's arguments."""
    sent = await client.post("/socket.io/", params=query, content=payload(f"421{event}"))
    assert sent.status_code == 200, sent.text
    with anyio.fail_after(3):  # no answer at all is the failure this guards against
        polled = await client.get("/socket.io/", params=query)
    text = polled.text
    start = text.index(":431") + 4  # the ack packet: `4` (message) `3` (ack) `1` (its id)
    return json.loads(text[start:])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            '["create","authentication",' + "[" * 2000 + "]" * 2000 + "]",
            "the event cannot be read: event data nests 2001 levels of arrays and objects deep; "
            f"the sandbox accepts at most {DEPTH}",
        ),
        ("{}", "an event is a list: its name, then its arguments"),
        ("[]", "an event is a list: its name, then its arguments"),
    ],
)
async def test_a_socket_event_it_cannot_read_is_acked_with_a_feathers_bad_request(
    polling: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, event: str, message: str
) -> None:
    query = await open_socket(polling)
    [error] = await ack_of(polling, query, event)
    assert error == {
        "name": "BadRequest",
        "message": message,
        "code": 400,
        "className": "bad-request",
        "errors": {},
    }
    # The socket still works: it signs in as before.
    sign_in = {"strategy": "local", "email": f"ana@{ORG}", "password": "p"}
    answer = await ack_of(polling, query, json.dumps(["create", "authentication", sign_in]))
    assert answer[0] is None and answer[1]["accessToken"], answer
    no_crash_logged(caplog)


def _too_large(response: httpx.Response, message: str) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "name": "PayloadTooLarge",
        "message": message,
        "code": 413,
        "className": "payload-too-large",
        "errors": {},
    }
    assert response.headers["connection"] == "close"


@pytest.mark.anyio
async def test_a_socket_body_over_the_cap_is_413_by_its_declared_length(
    polling: httpx.AsyncClient,
) -> None:
    query = await open_socket(polling)
    body = payload("42" + json.dumps(["create", "authentication", {"x": "y" * 5000}]))
    response = await polling.post("/socket.io/", params=query, content=body)
    _too_large(response, f"request body is {len(body)} bytes; at most 4096 are accepted here")


@pytest.mark.anyio
async def test_a_streamed_socket_body_is_refused_once_past_the_cap_and_never_read_on(
    polling: httpx.AsyncClient,
) -> None:
    query = await open_socket(polling)
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(1000):  # 1 MB, of which the server must read no more than its cap
            pulled += 1
            yield b"x" * 1000

    response = await polling.post("/socket.io/", params=query, content=chunks())
    _too_large(response, "request body exceeds the limit of 4096 bytes")
    assert pulled <= 5  # 4 chunks fit, the fifth crosses the cap: nothing after it is read


@pytest.mark.anyio
async def test_the_sign_in_form_refuses_a_body_declared_too_large_before_reading_it() -> None:
    app = create_app(Settings(records=5, control_token="t0ken"))

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"token="
        await anyio.sleep_forever()  # it promised ten megabytes; it will never send them

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as client:
        with anyio.fail_after(3):
            response = await client.post(
                "/_sandbox/ui/sign-in",
                content=slow_body(),
                headers={"Content-Length": "10000000", "Content-Type": "text/plain"},
            )
    assert response.status_code == 413
    assert "that is not a sign-in form" in response.text
    assert response.headers["connection"] == "close"
    assert "set-cookie" not in response.headers


def test_max_state_bytes_is_a_serve_option_and_bounds_a_snapshot_upload() -> None:
    settings = settings_of(parse_args(["serve", "--max-state-bytes", "2048"]))
    assert settings.max_state_bytes == 2048
    with client_of(create_app(Settings(records=5, max_state_bytes=2048))) as http:
        before = http.get("/_sandbox/state").content
        upload = orjson.dumps({"format": "billing-sandbox/1", "tenants": {}, "pad": "x" * 4096})
        response = http.put("/_sandbox/state", content=upload)
        assert response.status_code == 400
        assert response.json() == {
            "error": "MalformedBody",
            "message": f"request body is {len(upload)} bytes; the sandbox accepts at most 2048",
        }
        assert http.get("/_sandbox/state").content == before


# ---- ids that name tenants ----

# Not one of them could name a tenant: too long, or holding a space, a control character,
# an invisible one or a letter outside ASCII.
_BAD_IDS = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=129, max_size=400),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
        st.sampled_from([" ", "\x00", "\x1b", "\x7f", "\u200b", "\u202e", "é", "\u0435"]),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20),
    ),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(client_id=_BAD_IDS)
def test_a_candid_client_id_that_cannot_name_a_tenant_is_401(http: Client, client_id: str) -> None:
    before = tenants(http)
    response = http.post("/api/auth/v2/token", json={"client_id": client_id, "client_secret": "s"})
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["errorName"] == "UnauthorizedError"
    assert body["content"]["message"].startswith("invalid client credentials: the client_id ")
    assert tenants(http) == before


def test_a_candid_client_id_of_128_characters_is_fine_and_129_is_not(http: Client) -> None:
    for length, status in ((128, 200), (129, 401)):
        body = {"client_id": "c" * length, "client_secret": "s"}
        response = http.post("/api/auth/v2/token", json=body)
        assert response.status_code == status, response.text
    message = response.json()["content"]["message"]
    assert message == (
        "invalid client credentials: the client_id is 129 characters long; "
        "the sandbox accepts at most 128"
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(tenant=_BAD_IDS.filter(lambda text: text.strip() == text and text.strip()))
def test_a_decoda_tenant_header_that_cannot_name_a_tenant_is_401(http: Client, tenant: str) -> None:
    before = tenants(http)
    # As it travels: bytes (a header carries any byte but CR and LF; UTF-8 beyond ASCII).
    headers = [(b"tenant", tenant.encode()), (b"api-key", b"k")]
    response = http.get("/billing/charge/list", headers=headers)
    assert response.status_code == 401, response.text
    detail = response.json()["detail"]
    assert detail.startswith("invalid TENANT header: it "), detail
    assert tenants(http) == before


@pytest.mark.parametrize("bad", ["\x1b", "\x00", "\x7f", "\u200b", "\u202e"])
def test_a_mycure_email_with_an_invisible_or_control_character_is_400(
    http: Client, bad: str
) -> None:
    before = tenants(http)
    email = f"ana{bad}@clinic{bad}-b.test"
    response = http.post(
        "/authentication", json={"strategy": "local", "email": email, "password": "p"}
    )
    assert response.status_code == 400, response.text
    # The spec's own pattern says it, in words (`x-sandbox-pattern-hint`).
    said = (
        "must be an email address without whitespace, control, invisible or "
        "direction-changing characters"
    )
    assert response.json() == {
        "name": "BadRequest",
        "message": f"Invalid data: email: {said}",
        "code": 400,
        "className": "bad-request",
        "errors": {"email": said},
    }
    assert tenants(http) == before


# ---- what a log line shows ----


@pytest.fixture(params=["text", "json"])
def logged(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    saved = requestlog.active()
    requestlog.configure(stream, request.param, quiet=False)
    yield stream
    requestlog._active = saved


def test_a_log_line_shows_a_bounded_prefix_of_each_value_and_escapes_control_characters(
    http: Client, logged: io.StringIO
) -> None:
    long_id = "x" * 5000
    forged = "abc%1B[31m%0A12:00:00 GET forged 200"
    for charge in (long_id, forged):
        response = http.get(f"/billing/charge/get/{charge}", headers=creds())
        assert response.status_code == 404
    long_line, forged_line = logged.getvalue().splitlines()  # two requests: two lines
    # The path and the problem (which names the id) are each cut, their length said.
    assert len(long_line) < 1000
    assert "x" * (requestlog.MAX_VALUE_CHARS + 1) not in long_line
    assert long_line.count(" characters)") == 2
    assert f"… ({len('/billing/charge/get/') + len(long_id)} characters)" in long_line
    assert "\x1b" not in forged_line
    assert "abc\\x1b[31m\\n12:00:00 GET forged 200" in forged_line.replace("\\\\", "\\")


@pytest.mark.anyio
async def test_engine_io_logs_a_bounded_prefix_of_an_unknown_session_id(
    polling: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    sid = "s" * 5000 + "\x1b[31m"
    params = {"EIO": "3", "transport": "polling", "sid": sid}
    response = await polling.post("/socket.io/", params=params, content=payload("2"))
    assert response.status_code == 400
    [record] = [r for r in caplog.records if "Invalid session" in r.getMessage()]
    assert len(record.getMessage()) < requestlog.MAX_VALUE_CHARS + 50
    assert "\x1b" not in record.getMessage()
