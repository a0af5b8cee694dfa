"""Who hears an organisation's events: the sockets in its room, on this server or, in a cluster,
on every shard (a Redis pub/sub channel carries each room's events to all of them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import socketio_v4
from redis.exceptions import RedisError
from socketio_v4.asyncio_pubsub_manager import AsyncPubSubManager

log = logging.getLogger(__name__)
CHANNEL = "billing-sandbox:mycure"
# Reconnecting to Redis: from a tenth of a second, doubling, to at most two seconds, so that
# delivery resumes within about two seconds of Redis coming back, and a Redis that stays
# down costs one attempt every two seconds.
FIRST_RETRY_SECONDS = 0.1
LAST_RETRY_SECONDS = 2.0
_SKIP_SECONDS = 1.0  # after a failed publish, events are dropped without trying for this long
_WARN_EVERY_SECONDS = 30.0  # a Redis that stays down is said once in this long, not per write


class Rooms(socketio_v4.AsyncManager):  # type: ignore[misc]
    """python-socketio 4's own manager, but sending to a room's sockets with `gather`: its
    `emit` hands `asyncio.wait` bare coroutines, which Python 3.11 refuses (the 4 line is the
    one that speaks Engine.IO 3, and it has had no release since Python 3.9)."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        **_: Any,
    ) -> None:
        if namespace not in self.rooms or room not in self.rooms[namespace]:
            return
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sends = [
            self.server._emit_internal(
                sid,
                event,
                data,
                namespace,
                None if callback is None else self._generate_ack_id(sid, namespace, callback),
            )
            for sid in self.get_participants(namespace, room)
            if sid not in skipped
        ]
        await asyncio.gather(*sends)

    def listens(self, room: str) -> bool:
        """Whether an emit to the room can reach anyone (here: a socket of this server in it)."""
        return bool(self.rooms.get("/", {}).get(room))


class SharedRooms(AsyncPubSubManager):  # type: ignore[misc]
    """The rooms of every shard of a cluster: an emit to a room is published on one Redis
    channel, and each shard (this one too) sends what it hears to its own sockets in that room.
    Only room emits without acks travel (all the hub sends); the library's other messages
    (remote disconnects, acks, pickled data) are never acted on, whoever publishes them."""

    name = "billing-sandbox-redis"

    def __init__(self, url: str) -> None:
        super().__init__(channel=CHANNEL)
        aioredis.ConnectionPool.from_url(url)  # a URL it cannot use stops the start (ValueError)
        self.url = url
        self._local = Rooms()
        self._publisher: aioredis.Redis | None = None
        self._subscription: Any = None  # redis.asyncio's PubSub, while subscribed
        self._warned_at = -_WARN_EVERY_SECONDS
        self._down_until = 0.0

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self._local.server = server
        self._local.rooms = self.rooms  # one table of rooms: the local sender reads this one's
        self._local.callbacks = self.callbacks

    def listens(self, room: str) -> bool:
        return True  # a socket of the room may be on any shard

    async def _publish(self, data: dict[str, Any]) -> None:
        if self._publisher is None:
            self._publisher = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=1, socket_timeout=2
            )
        if time.monotonic() < self._down_until:
            return  # Redis failed a moment ago: no write waits for it again so soon
        try:
            await self._publisher.publish(self.channel, orjson.dumps(data))
        except (RedisError, OSError) as error:
            # Lost, as Socket.IO's own Redis adapter loses what it cannot publish: the REST
            # call that made the change has succeeded, and a reconnecting client finds again.
            # Events leave one at a time, so while Redis is down the next ones are dropped at
            # once for a while rather than each waiting out the connect timeout behind it.
            self._down_until = time.monotonic() + _SKIP_SECONDS
            self._warn(f"an event to a room was not published: {error}")

    async def _listen(self) -> dict[str, Any]:
        """The next emit published by any shard; reconnects (with a bounded backoff) for as
        long as it takes, so that this never raises and the library's loop never ends."""
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                if self._subscription is None:
                    client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
                    subscription = client.pubsub(ignore_subscribe_messages=True)
                    await subscription.subscribe(self.channel)
                    self._subscription = subscription
                    delay = FIRST_RETRY_SECONDS
                message = await self._subscription.get_message(timeout=None)
            except (RedisError, OSError) as error:
                self._warn(f"listening for other shards' events: {error}; retrying")
                await self._drop_subscription()
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_RETRY_SECONDS)
                continue
            emit = _room_emit(message)
            if emit is not None:
                return emit

    async def _drop_subscription(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            # It is being thrown away because its connection failed.
            with contextlib.suppress(RedisError, OSError):
                await subscription.aclose()

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        try:
            await self._local.emit(
                message["event"], message["data"], namespace="/", room=message["room"]
            )
        except Exception:
            log.exception("could not send an event to room %.100r", message["room"])

    def _warn(self, text: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("Redis at %s: %s", _without_password(self.url), text)


def _room_emit(message: Any) -> dict[str, Any] | None:
    """A published message, when it is a room emit as `SharedRooms._publish` writes them."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    try:
        data = orjson.loads(message.get("data", b""))
    except (orjson.JSONDecodeError, TypeError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("method") != "emit"
        or not isinstance(data.get("event"), str)
        or not isinstance(data.get("room"), str)
        or data.get("namespace") != "/"
        or data.get("callback") is not None
    ):
        return None
    event, room = data["event"], data["room"]
    return {"method": "emit", "event": event, "room": room, "data": data.get("data")}


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
