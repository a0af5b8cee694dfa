"""The shards' Redis manager for MYCURE's socket rooms (`apis/mycure/rooms.py`), on its own:
what it takes from the channel, and what it does while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from billing_sandbox.apis.mycure.rooms import SharedRooms, _room_emit

REDIS = shutil.which("redis-server")


def message(data: Any) -> dict[str, Any]:
    return {"type": "message", "channel": b"billing-sandbox:mycure", "data": data}


def test_a_room_emit_as_a_shard_publishes_it_is_taken() -> None:
    published = {"method": "emit", "event": "billing-soas created", "data": {"id": "a"},
                 "namespace": "/", "room": "clinic.test", "skip_sid": None, "callback": None,
                 "host_id": "h"}  # fmt: skip
    assert _room_emit(message(orjson.dumps(published))) == {
        "method": "emit", "event": "billing-soas created", "room": "clinic.test",
        "data": {"id": "a"},
    }  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b"\x80\x03}q\x00.",  # a pickle: never unpickled
        orjson.dumps({"method": "disconnect", "sid": "x", "namespace": "/"}),
        orjson.dumps({"method": "emit", "event": "e", "namespace": "/", "room": None}),
        orjson.dumps({"method": "emit", "event": "e", "namespace": "/other", "room": "r"}),
        orjson.dumps(
            {
                "method": "emit",
                "event": "e",
                "namespace": "/",
                "room": "r",
                "callback": ["r", "/", 1],
            }
        ),  # an ack would be answered on another's word
        None,
    ],
)
def test_anything_else_on_the_channel_is_ignored(data: Any) -> None:
    assert _room_emit(message(data)) is None


def test_a_subscription_notice_is_not_an_emit() -> None:
    assert _room_emit({"type": "subscribe", "data": 1}) is None


def test_a_url_that_is_not_redis_stops_the_start() -> None:
    with pytest.raises(ValueError, match="redis://"):
        SharedRooms("http://127.0.0.1:6379")


def test_publishing_with_redis_away_loses_the_event_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rooms = SharedRooms(f"redis://:secret@127.0.0.1:{port}/0")

    async def publish_twice() -> None:
        for _ in range(2):
            await rooms.emit("billing-soas created", {"id": "a"}, room="clinic.test")
        assert rooms._publisher is not None
        await rooms._publisher.aclose()

    with caplog.at_level(logging.WARNING, "billing_sandbox.apis.mycure.rooms"):
        asyncio.run(asyncio.wait_for(publish_twice(), 10))
    [warning] = caplog.records
    assert "not published" in warning.getMessage() and "secret" not in warning.getMessage()


@pytest.fixture
def redis_port() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if REDIS is None:
        pytest.fail("the cluster tests need Redis (Debian: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_redis(port)
    try:
        yield port, server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


def start_redis(port: int) -> subprocess.Popen[bytes]:
    assert REDIS is not None
    server = subprocess.Popen(
        [REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.mark.cluster
def test_the_listener_hears_a_room_emit_and_comes_back_after_redis_restarts(
    redis_port: tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, server = redis_port
    url = f"redis://127.0.0.1:{port}/0"
    listener, publisher = SharedRooms(url), SharedRooms(url)

    async def hear_one(tag: str) -> dict[str, Any]:
        """Published again and again until the listener (subscribing, or resubscribing after
        Redis came back) hears it; copies of earlier ones it may still hear are skipped."""
        listening = asyncio.ensure_future(listener._listen())
        deadline = time.monotonic() + 10
        while True:
            if listening.done():
                heard = listening.result()
                if heard["data"] == {"id": tag}:
                    return heard
                listening = asyncio.ensure_future(listener._listen())
                continue
            await publisher.emit("billing-soas created", {"id": tag}, room="clinic.test")
            assert time.monotonic() < deadline, "nothing heard"
            await asyncio.sleep(0.1)

    async def scenario() -> None:
        first = await hear_one("before")
        assert first["data"] == {"id": "before"} and first["room"] == "clinic.test"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        await asyncio.sleep(0.3)
        nonlocal_restarted.append(start_redis(port))
        again = await hear_one("after")
        assert again["data"] == {"id": "after"}
        await listener._drop_subscription()
        assert publisher._publisher is not None
        await publisher._publisher.aclose()

    nonlocal_restarted: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        for restarted in nonlocal_restarted:
            restarted.kill()
            restarted.wait(timeout=10)
