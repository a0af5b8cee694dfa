"""MYCURE's real-time events over Socket.IO, against a live server: a socket signs in as
Feathers clients do and hears its organisation's `billing-soas` changes made over REST."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import socketio_v4

from tests.mycure.helpers import FACILITY, HMO, ORG, create
from tests.support.live import live_server

pytestmark = pytest.mark.anyio
WITHIN = 1.0  # seconds an event may take to arrive
QUIET = 0.3  # how long a socket that should hear nothing is listened to


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with live_server() as base:
        yield base


@pytest.fixture
async def rest(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        yield client


class Listener:
    """A socket's `billing-soas` events, as they arrive."""

    def __init__(self) -> None:
        self.client = socketio_v4.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in ("created", "patched", "removed"):
            self.client.on(f"billing-soas {name}", self._keep(name))

    def _keep(self, name: str) -> Any:
        async def keep(record: Any) -> None:
            await self.events.put((name, record))

        return keep

    async def sign_in(self, data: Any) -> Any:
        return await self.client.call("create", ("authentication", data), timeout=5)

    async def next(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), WITHIN)

    async def nothing(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.events.empty(), self.events.get_nowait()


@asynccontextmanager
async def listening(url: str, token: str | None = None) -> AsyncIterator[Listener]:
    listener = Listener()
    await listener.client.connect(url, transports=["websocket"], socketio_v4_path="socket.io")
    try:
        if token is not None:
            acked = await listener.sign_in({"strategy": "jwt", "accessToken": token})
            assert acked[0] is None, acked
        yield listener
    finally:
        await listener.client.disconnect()


async def token(rest: httpx.AsyncClient, email: str = f"ana@{ORG}") -> str:
    body = {"strategy": "local", "email": email, "password": "any"}
    response = await rest.post("/authentication", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["accessToken"])


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def test_jwt_sign_in_acks_what_rest_answers(url: str, rest: httpx.AsyncClient) -> None:
    access = await token(rest)
    async with listening(url) as socket:
        error, body = await socket.sign_in({"strategy": "jwt", "accessToken": access})
    jwt = await rest.post("/authentication", json={"strategy": "jwt", "accessToken": access})
    assert error is None
    assert set(body) == set(jwt.json()) == {"uid", "accessToken", "refreshToken", "expiresAt"}
    assert body["uid"] == jwt.json()["uid"]


async def test_a_bad_token_acks_not_authenticated(url: str) -> None:
    async with listening(url) as socket:
        acked = await socket.sign_in({"strategy": "jwt", "accessToken": "not-a-token"})
    error = acked[0] if isinstance(acked, tuple) else acked
    assert set(error) == {"name", "message", "code", "className", "errors"}
    assert (error["name"], error["code"], error["className"]) == (
        "NotAuthenticated",
        401,
        "not-authenticated",
    )
    assert "invalid access token" in error["message"]


async def test_a_body_without_a_token_acks_bad_request(url: str) -> None:
    async with listening(url) as socket:
        acked = await socket.sign_in({"strategy": "jwt"})
    error = acked[0] if isinstance(acked, tuple) else acked
    assert (error["name"], error["code"]) == ("BadRequest", 400)
    assert "accessToken" in error["message"]


async def test_created_patched_finalized_removed_arrive(url: str, rest: httpx.AsyncClient) -> None:
    headers = bearer(await token(rest, f"writer@{ORG}"))  # another client of the organisation
    async with listening(url, await token(rest)) as socket:
        created = await create(rest, headers, note="live")
        assert await socket.next() == ("created", created)
        patched = await rest.patch(f"/billing-soas/{created['id']}", json={"note": "edited"})
        assert patched.status_code == 401  # no token: refused, and nothing is sent
        patched = await rest.patch(
            f"/billing-soas/{created['id']}", json={"note": "edited"}, headers=headers
        )
        assert await socket.next() == ("patched", patched.json())
        finalized = await rest.patch(
            f"/billing-soas/{created['id']}", json={"finalize": True}, headers=headers
        )
        assert await socket.next() == ("patched", finalized.json())
        removed = await rest.delete(f"/billing-soas/{created['id']}", headers=headers)
        assert await socket.next() == ("removed", removed.json())
        await socket.nothing()


async def test_a_refused_change_sends_nothing(url: str, rest: httpx.AsyncClient) -> None:
    headers = bearer(await token(rest))
    async with listening(url, await token(rest)) as socket:
        draft = await create(rest, headers)
        assert (await socket.next())[0] == "created"
        refused = await rest.delete(f"/billing-soas/{draft['id']}", headers=headers)
        assert refused.status_code == 400  # only finalized SOAs can be deleted
        bad = {"facility": FACILITY, "type": "nope", "customer": HMO}
        assert (await rest.post("/billing-soas", json=bad, headers=headers)).status_code == 400
        await socket.nothing()


async def test_another_organisation_hears_nothing(url: str, rest: httpx.AsyncClient) -> None:
    headers = bearer(await token(rest))
    async with listening(url, await token(rest, "bo@clinic-b.test")) as other:
        await create(rest, headers)
        await other.nothing()


async def test_an_unauthenticated_socket_hears_nothing(url: str, rest: httpx.AsyncClient) -> None:
    headers = bearer(await token(rest))
    async with listening(url) as anonymous:
        await create(rest, headers)
        await anonymous.nothing()


async def test_a_failed_sign_in_hears_nothing(url: str, rest: httpx.AsyncClient) -> None:
    headers = bearer(await token(rest))
    async with listening(url) as socket:
        await socket.sign_in({"strategy": "jwt", "accessToken": "forged"})
        await create(rest, headers)
        await socket.nothing()


async def test_signing_out_stops_the_events(url: str, rest: httpx.AsyncClient) -> None:
    access = await token(rest)
    async with listening(url, access) as socket:
        acked = await socket.client.call("remove", ("authentication", access), timeout=5)
        assert acked[0] is None
        await create(rest, bearer(access))
        await socket.nothing()


async def sockets_of(rest: httpx.AsyncClient, tenant: str) -> int:
    listed = (await rest.get("/_sandbox/tenants")).json()["tenants"]
    return sum(t["sockets"] for t in listed if t["id"] == tenant)


async def test_the_control_api_counts_the_sockets_signed_in(
    url: str, rest: httpx.AsyncClient
) -> None:
    org = "sockets-counted.test"
    access = await token(rest, f"ana@{org}")
    async with listening(url, access), listening(url, access) as second:
        assert await sockets_of(rest, org) == 2
        await second.client.call("remove", ("authentication", access), timeout=5)
        assert await sockets_of(rest, org) == 1
    for _ in range(50):  # the server hears the disconnect a moment after the client leaves
        if await sockets_of(rest, org) == 0:
            break
        await asyncio.sleep(0.05)
    assert await sockets_of(rest, org) == 0


async def test_services_are_not_served_over_the_socket(url: str) -> None:
    async with listening(url) as socket:
        acked = await socket.client.call("find", ("billing-soas", {}), timeout=5)
    assert (acked["name"], acked["code"]) == ("MethodNotAllowed", 405)


async def test_engine_io_4_clients_are_refused(rest: httpx.AsyncClient) -> None:
    # socket.io-client 3 and 4 speak Engine.IO 4, which MYCURE's socket.io 2 server refuses.
    refused = await rest.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert refused.status_code == 400
    assert "unsupported version" in refused.text
    assert (await rest.get("/socket.io/", params={"EIO": "3", "transport": "polling"})).is_success
