"""Webhooks deliver only where they should: loopback and private addresses, decided on the
address actually connected to; odd host notations and credentials refused at registration."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.events.courier import Outcome, Outgoing, send
from billing_sandbox.events.targets import checked, refusal, refused_on_sending
from billing_sandbox.settings import InvalidSetting, Settings
from tests.decoda.helpers import assert_detail, creds
from tests.decoda.hooks import attempts, new_patient, settled
from tests.support.receiver import receiver

DEFAULT = Settings().webhook_hosts
HOOKS = "/webhook/decoda"
GOOD = "http://127.0.0.1:9/hooks"

# Any mix of entries, including ones settings refuse (the rule must hold even without them).
SOME_ENTRIES = "loopback private any 10.0.0.0/8 receiver 0.0.0.0/0 ::/0 169.254.0.0/16 fe80::/10"
ENTRIES = st.lists(st.sampled_from(SOME_ENTRIES.split()), max_size=4).map(tuple)
IPV4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
LOOPBACK_OR_PRIVATE = st.one_of(
    st.integers(0, 2**24 - 1).map(lambda n: ipaddress.IPv4Address((127 << 24) + n)),
    st.integers(0, 2**24 - 1).map(lambda n: ipaddress.IPv4Address((10 << 24) + n)),
    st.integers(0, 2**20 - 1).map(lambda n: ipaddress.IPv4Address((172 << 24) + (16 << 16) + n)),
    st.integers(0, 2**16 - 1).map(lambda n: ipaddress.IPv4Address((192 << 24) + (168 << 16) + n)),
    st.integers(0, 2**121 - 1).map(lambda n: ipaddress.IPv6Address((0xFC << 120) + n)),
    st.just(ipaddress.IPv6Address("::1")),
)


def url_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:8080/hooks"


def reachable(address: ipaddress.IPv4Address) -> bool:
    return any(
        address in ipaddress.ip_network(n)
        for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    )


# ---- the rule on addresses: at registration (literals) and at send time (resolved) ----


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**16 - 1), ENTRIES)
def test_every_link_local_ipv4_is_refused_whatever_the_setting(
    low: int, allowed: tuple[str, ...]
) -> None:
    address = ipaddress.IPv4Address("169.254.0.0") + low
    assert refusal(url_of(address), allowed) is not None
    assert checked("receiver", [str(address)], allowed) is None
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert refusal(url_of(mapped), allowed) is not None
    assert checked("receiver", [str(mapped)], allowed) is None


@settings(max_examples=300, deadline=None)
@given(IPV4, ENTRIES)
def test_a_public_or_special_ipv4_is_refused_whatever_the_setting(
    address: ipaddress.IPv4Address, allowed: tuple[str, ...]
) -> None:
    if reachable(address):
        return
    assert refusal(url_of(address), allowed) is not None
    assert checked("receiver", [str(address)], allowed) is None


@settings(max_examples=300, deadline=None)
@given(IPV4)
def test_ipv6_forms_carrying_an_ipv4_address_are_refused_even_for_loopback(
    address: ipaddress.IPv4Address,
) -> None:
    v4 = int(address)
    carriers = [
        ipaddress.IPv6Address((0x2002 << 112) + (v4 << 80) + 1),  # 6to4
        ipaddress.IPv6Address((0x20010000 << 96) + (v4 ^ 0xFFFFFFFF)),  # Teredo (client)
        ipaddress.IPv6Address((0x0064FF9B << 96) + v4),  # NAT64
        ipaddress.IPv6Address(v4),  # IPv4-compatible (:: and ::1 aside)
    ]
    for carrier in carriers:
        if carrier in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
            continue
        assert refusal(url_of(carrier), DEFAULT) is not None, carrier
        assert checked("receiver", [str(carrier)], DEFAULT) is None, carrier


@settings(max_examples=300, deadline=None)
@given(IPV4)
def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert (refusal(url_of(mapped), DEFAULT) is None) is reachable(address)
    expected = [address] if reachable(address) else None
    assert checked("receiver", [str(mapped)], DEFAULT) == expected


ANY_ADDRESS = st.one_of(
    LOOPBACK_OR_PRIVATE,
    IPV4,
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
    st.sampled_from([ipaddress.ip_address(a) for a in ("::", "fe80::1", "ff02::1", "2001::1")]),
)


@settings(max_examples=500, deadline=None)
@given(ANY_ADDRESS)
def test_by_default_exactly_loopback_and_private_addresses_are_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    ok = address == ipaddress.IPv6Address("::1") or (
        reachable(address) if address.version == 4 else address in ipaddress.ip_network("fc00::/7")
    )
    problem = refusal(url_of(address), DEFAULT)
    assert (problem is None) is ok, address
    assert "non-canonical" not in (problem or "")
    assert checked("receiver", [str(address)], DEFAULT) == ([address] if ok else None)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", ("private",)),
        ("10.0.0.1", ("loopback",)),
        ("10.0.0.1", ("192.168.0.0/16",)),
        ("192.168.1.9", ("192.168.0.0/24",)),
    ],
)
def test_entries_narrow_the_rule(address: str, allowed: tuple[str, ...]) -> None:
    assert checked("receiver", [address], allowed) is None


def test_a_named_host_may_resolve_to_any_loopback_or_private_address_only() -> None:
    allowed = ("hooks.internal.test",)
    assert refusal("https://hooks.internal.test/x", allowed) is None
    assert checked("hooks.internal.test", ["10.1.2.3"], allowed) is not None
    assert checked("hooks.internal.test", ["203.0.113.9"], allowed) is None
    assert checked("hooks.internal.test", ["169.254.169.254"], allowed) is None


def test_one_refused_address_among_the_answers_refuses_the_name() -> None:
    assert checked("receiver", ["10.0.0.5", "169.254.169.254"], DEFAULT) is None
    assert checked("receiver", ["169.254.169.254", "10.0.0.5"], DEFAULT) is None
    assert checked("receiver", [], DEFAULT) is None


# ---- the notations of a host, at registration ----


def _dotted(parts: list[int], render: str) -> str:
    def octal(n: int) -> str:
        return "0" + oct(n)[2:]

    return ".".join((hex if render == "hex" else octal)(part) for part in parts)


NUMERIC_FORMS = st.one_of(
    IPV4.map(lambda a: str(int(a))),  # dotless decimal: 2130706433
    IPV4.map(lambda a: hex(int(a))),  # dotless hex: 0x7f000001
    IPV4.map(lambda a: "0" + oct(int(a))[2:]),  # dotless octal: 017700000001
    st.tuples(IPV4, st.sampled_from(["hex", "oct"])).map(  # per part: 0x7f.0x0.0x0.0x1
        lambda t: _dotted(list(t[0].packed), t[1])
    ),
    st.tuples(st.integers(0, 255), st.integers(0, 2**24 - 1)).map(lambda t: f"{t[0]}.{t[1]}"),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**16 - 1)).map(
        lambda t: f"{t[0]}.{t[1]}.{t[2]}"  # shortened: 127.1, 10.0.1
    ),
    IPV4.map(lambda a: f"{a}."),  # a trailing dot
)


@settings(max_examples=500, deadline=None)
@given(NUMERIC_FORMS)
def test_every_non_canonical_numeric_host_is_refused(host: str) -> None:
    problem = refusal(f"http://{host}:8080/hooks", DEFAULT)
    assert problem is not None and "non-canonical numeric address" in problem, host
    assert "webhook_hosts" in problem


# ---- the settings ----


def test_any_stops_the_start_naming_what_to_write_instead() -> None:
    with pytest.raises(InvalidSetting, match="'any' is no longer accepted"):
        Settings(webhook_hosts=("loopback", "any"))
    with pytest.raises(InvalidSetting, match="'any'"):
        Settings.from_env({"BILLING_SANDBOX_WEBHOOK_HOSTS": "any"})


def test_a_network_entry_may_narrow_the_rule_but_never_widen_it() -> None:
    narrowing = ("loopback", "10.8.0.0/16", "fd00::/8", "192.168.1.7", "hooks.internal.test")
    assert Settings(webhook_hosts=narrowing).webhook_hosts == narrowing
    widening = ["203.0.113.0/24", "169.254.0.0/16", "0.0.0.0/0", "8.8.8.8", "fe80::/10", "::/0",
                "::ffff:0:0/96", "10.0.0.0/7"]  # fmt: skip
    for entry in widening:
        with pytest.raises(InvalidSetting, match="beyond loopback and private"):
            Settings(webhook_hosts=(entry,))


# ---- registration through the Decoda API ----

REFUSED_AT_REGISTRATION = [
    ("http://2130706433:8080/hooks", "non-canonical numeric"),
    ("http://0x7f000001:8080/hooks", "non-canonical numeric"),
    ("http://0x7f.0.0.1:8080/hooks", "non-canonical numeric"),
    ("http://0177.0.0.1:8080/hooks", "non-canonical numeric"),
    ("http://017700000001:8080/hooks", "non-canonical numeric"),
    ("http://127.1:8080/hooks", "non-canonical numeric"),
    ("http://10.1:8080/hooks", "non-canonical numeric"),
    ("http://user:pass@127.0.0.1:8080/hooks", "credentials"),
    ("http://token@receiver:8080/hooks", "credentials"),
    ("http://169.254.169.254/latest/meta-data/", "not allowed"),
    ("http://[fe80::1]:8080/hooks", "not allowed"),
    ("http://[::ffff:169.254.169.254]/latest/meta-data/", "not allowed"),
    ("http://[2001::a9fe:a9fe]:8080/hooks", "not allowed"),
    ("http://0.0.0.0:8080/hooks", "not allowed"),
    ("http://r%65ceiver:8080/hooks", "not a host name"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("url", "says"), REFUSED_AT_REGISTRATION)
async def test_registration_refuses_with_a_422_naming_the_rule(
    client: httpx.AsyncClient, url: str, says: str
) -> None:
    body = {"url": url, "subscriptions": ["PATIENT_CREATED"]}
    response = await client.post(f"{HOOKS}/create", json=body, headers=creds())
    [issue] = assert_detail(response, 422)
    assert (issue["loc"], issue["type"]) == (["body", "url"], "url_not_allowed")
    assert says in issue["msg"] and "webhook_hosts" in issue["msg"]
    listed = await client.get(f"{HOOKS}/list", headers=creds())
    assert listed.json() == []


@pytest.mark.anyio
@pytest.mark.parametrize(("url", "says"), REFUSED_AT_REGISTRATION)
async def test_an_update_refuses_with_a_422_and_keeps_the_url(
    client: httpx.AsyncClient, url: str, says: str
) -> None:
    body = {"url": GOOD, "subscriptions": ["PATIENT_CREATED"]}
    made = (await client.post(f"{HOOKS}/create", json=body, headers=creds())).json()
    response = await client.put(f"{HOOKS}/update/{made['id']}", json={"url": url}, headers=creds())
    [issue] = assert_detail(response, 422)
    assert says in issue["msg"]
    got = await client.get(f"{HOOKS}/get/{made['id']}", headers=creds())
    assert got.json()["url"] == GOOD


# ---- sending: resolve once, check every address, connect to the checked one ----


class Resolver:
    """A stand-in for DNS: the addresses it is told, for every name, counting the lookups."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return list(self.answers)


class Transport(httpx.AsyncBaseTransport):
    """Records what would have gone on the wire, and answers 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200)


@pytest.fixture
async def courier_closed(app: Starlette) -> AsyncIterator[None]:
    """The in-process app runs no lifespan: close the courier's HTTP client here."""
    yield
    await app.state.courier.close()


async def _try(url: str, resolver: Resolver, allowed: tuple[str, ...] = DEFAULT) -> Outcome:
    transport = Transport()
    async with httpx.AsyncClient(transport=transport) as client:
        outcome = await send(client, Outgoing("wda_1", url, b"{}"), allowed, resolver)
    if outcome.status is None:
        assert transport.requests == []
    return outcome


@pytest.mark.anyio
@pytest.mark.usefixtures("courier_closed")
async def test_a_name_resolving_to_the_metadata_address_is_never_contacted(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    transport = Transport()
    resolver = Resolver("169.254.169.254")
    app.state.courier.client = httpx.AsyncClient(transport=transport)
    app.state.courier.resolve = resolver
    body = {"url": "http://receiver:8080/hooks", "subscriptions": ["PATIENT_CREATED"]}
    made = (await client.post(f"{HOOKS}/create", json=body, headers=creds())).json()
    await new_patient(client)
    await settled(app)
    assert transport.requests == []
    assert resolver.asked == [("receiver", 8080)]
    [attempt] = await attempts(client, made["id"])
    assert attempt["lastDeliveryAttemptStatus"] is None
    assert attempt["deliveredDate"] is None
    assert attempt["lastDeliveryAttemptError"] == refused_on_sending("receiver", DEFAULT)
    assert "webhook_hosts" in attempt["lastDeliveryAttemptError"]


@pytest.mark.anyio
async def test_every_refused_address_gives_the_same_outcome_and_no_connection() -> None:
    refused = ["169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "8.8.8.8",
               "100.64.0.1", "fe80::1", "::", "ff02::1", "::ffff:169.254.169.254",
               "2002:a9fe:a9fe::1", "2001::5601:5601", "64:ff9b::a9fe:a9fe", "::a9fe:a9fe",
               "fe80::1%1"]  # fmt: skip
    errors = set()
    for address in refused:
        outcome = await _try("http://receiver:8080/hooks", Resolver(address))
        assert outcome.status is None, address
        errors.add(outcome.error)
    assert errors == {refused_on_sending("receiver", DEFAULT)}


@pytest.mark.anyio
async def test_a_url_refused_at_registration_is_refused_again_when_sent() -> None:
    # A URL can reach the outbox without registering (a restored snapshot, narrower settings).
    resolver = Resolver("127.0.0.1")
    for url in ("http://user:pw@127.0.0.1:9/h", "http://2130706433:9/h", "http://169.254.169.254/"):
        outcome = await _try(url, resolver)
        assert outcome.error is not None and outcome.error.startswith("not sent: "), url
    assert resolver.asked == []
    narrowed = await _try("http://127.0.0.1:9/h", resolver, ("private",))
    assert narrowed.status is None


@pytest.mark.anyio
async def test_the_checked_address_is_connected_to_with_the_name_in_host_and_sni() -> None:
    transport = Transport()
    resolver = Resolver("10.0.0.7")
    async with httpx.AsyncClient(transport=transport) as client:
        outgoing = Outgoing("wda_1", "https://receiver:8443/hooks?x=1", b"{}")
        outcome = await send(client, outgoing, DEFAULT, resolver)
    assert outcome.status == 200
    [request] = transport.requests
    assert (request.url.host, request.url.port, request.url.path) == ("10.0.0.7", 8443, "/hooks")
    assert request.url.query == b"x=1"
    assert request.headers["host"] == "receiver:8443"
    assert request.extensions["sni_hostname"] == "receiver"
    assert resolver.asked == [("receiver", 8443)]


@pytest.mark.anyio
@pytest.mark.usefixtures("courier_closed")
async def test_a_real_delivery_goes_to_the_resolved_address_without_a_second_lookup(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # `receiver` means nothing to the system's resolver: had the HTTP client looked the name
    # up again (where DNS rebinding would strike), the delivery could not arrive.
    resolver = Resolver("127.0.0.1")
    app.state.courier.resolve = resolver
    with receiver() as hook:
        port = httpx.URL(hook.url).port
        body = {"url": f"http://receiver:{port}/hooks", "subscriptions": ["PATIENT_CREATED"]}
        made = (await client.post(f"{HOOKS}/create", json=body, headers=creds())).json()
        await new_patient(client)
        await settled(app)
        [got] = hook.wait_for(1)
    assert got.headers["host"] == f"receiver:{port}"
    assert resolver.asked == [("receiver", port)]
    [attempt] = await attempts(client, made["id"])
    assert attempt["lastDeliveryAttemptStatus"] == 200


@pytest.mark.anyio
@pytest.mark.usefixtures("courier_closed")
async def test_the_next_checked_address_is_tried_when_nobody_listens_on_the_first(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # As `localhost` often does: ::1 first, while the receiver listens on 127.0.0.1 only.
    resolver = Resolver("::1", "127.0.0.1")
    app.state.courier.resolve = resolver
    with receiver() as hook:
        port = httpx.URL(hook.url).port
        body = {"url": f"http://receiver:{port}/hooks", "subscriptions": ["PATIENT_CREATED"]}
        await client.post(f"{HOOKS}/create", json=body, headers=creds())
        await new_patient(client)
        await settled(app)
        [got] = hook.wait_for(1)
    assert got.headers["host"] == f"receiver:{port}"
    assert resolver.asked == [("receiver", port)]


@pytest.mark.anyio
@pytest.mark.usefixtures("courier_closed")
async def test_a_proxy_from_the_environment_is_not_used(
    client: httpx.AsyncClient, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would be the address connected to, not the checked one.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://169.254.169.254:1")
    monkeypatch.setenv("ALL_PROXY", "http://169.254.169.254:1")
    app.state.courier.resolve = Resolver("127.0.0.1")
    with receiver() as hook:
        port = httpx.URL(hook.url).port
        body = {"url": f"http://receiver:{port}/hooks", "subscriptions": ["PATIENT_CREATED"]}
        await client.post(f"{HOOKS}/create", json=body, headers=creds())
        await new_patient(client)
        await settled(app)
        assert len(hook.wait_for(1)) == 1


@pytest.mark.anyio
async def test_a_named_host_is_registered_and_judged_when_sent(clock: ManualClock) -> None:
    app = create_app(Settings(webhook_hosts=("loopback", "hooks.internal.test")), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = {"url": "https://hooks.internal.test/x", "subscriptions": ["PATIENT_CREATED"]}
        response = await client.post(f"{HOOKS}/create", json=body, headers=creds())
        assert response.status_code == 200, response.text
    outcome = await _try(
        "https://hooks.internal.test/x",
        Resolver("203.0.113.9"),
        app.state.sandbox.settings.webhook_hosts,
    )
    assert outcome.status is None
