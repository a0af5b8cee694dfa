"""MYCURE's real-time events over Socket.IO (Engine.IO 3, as the Feathers 4 server's socket.io 2
speaks): a socket signs in as Feathers clients do and hears its organisation's SOA changes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from typing import Any

import orjson
import socketio_v4
from socketio_v4 import packet
from starlette.responses import Response
from starlette.types import ASGIApp

from billing_sandbox.api import Call, Mount
from billing_sandbox.apis.mycure import auth
from billing_sandbox.apis.mycure.envelope import render_error
from billing_sandbox.apis.mycure.rooms import Rooms, SharedRooms
from billing_sandbox.asgi.cors import origin_allowed
from billing_sandbox.asgi.limits import BodyLimit
from billing_sandbox.errors import (
    ApiError,
    Issue,
    MalformedBody,
    MethodNotAllowed,
    ValidationFailed,
)
from billing_sandbox.observe.requestlog import shown
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.body import MAX_JSON_DEPTH, decode_json

PATH = "/socket.io"  # the Feathers client's default (socket.io-client's `path`)
SERVICE = "billing-soas"
SPEC = "mycure-billing-soas"
log = logging.getLogger(__name__)


class Hub:
    """One server's Socket.IO endpoint: signs sockets in, and sends each change of an
    organisation's statements to the sockets signed in to it (its room)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        # In a cluster, a socket may be on any shard, its organisation's tenant on another.
        self.shared = bool(sandbox.settings.redis_url)
        # `[]` turns Engine.IO's own CORS off: the app's CORS middleware answers polling
        # requests, and `_connect` holds a websocket's Origin to the same rule.
        self.server = _Server(
            async_mode="asgi",
            # In a cluster, every shard's rooms (through Redis); alone, this server's.
            client_manager=_rooms(sandbox.settings.redis_url),
            cors_allowed_origins=[],
            # The renamed distribution renamed its keyword arguments too (`engineio_v3_logger`).
            logger=_BoundedLog(logging.getLogger("socketio_v4.server")),
            engineio_v3_logger=_BoundedLog(logging.getLogger("engineio_v3.server")),
            # Packets are decoded with the same depth limit as REST bodies (`_PacketJson`).
            json=_PacketJson,
            # Engine.IO's own default is 100 MB; a polling body is refused past the REST cap
            # (`BodyLimit` in `endpoint` refuses it first, before a byte is buffered past it).
            max_http_buffer_size=sandbox.settings.max_body_bytes,
        )
        self.app = socketio_v4.ASGIApp(self.server, socketio_v4_path=PATH.strip("/"))
        self.server.on("connect", self._connect)
        self.server.on("disconnect", self._disconnect)
        # Feathers' socket protocol: `emit(method, service, ...args, ack)`.
        self.server.on("create", self._create)
        self.server.on("remove", self._remove)
        for method in ("find", "get", "update", "patch"):
            self.server.on(method, self._not_served(method))
        # Each signed-in socket's organisation, for the dashboard's count.
        self._signed_in: dict[str, str] = {}
        self._order = asyncio.Lock()
        self._sending: set[asyncio.Task[None]] = set()

    async def _connect(self, sid: str, environ: dict[str, Any]) -> bool:
        origin = environ.get("HTTP_ORIGIN")
        return origin is None or origin_allowed(origin, self.sandbox.settings.cors_origins)

    async def _disconnect(self, sid: str) -> None:
        self._signed_in.pop(sid, None)

    def connected(self) -> dict[str, int]:
        """How many sockets are signed in to each organisation (the dashboard shows it)."""
        return dict(Counter(self._signed_in.values()))

    async def _create(self, sid: str, service: Any, data: Any = None, *_: Any) -> Any:
        """`create("authentication", {strategy, ...})`: ack `(null, body)` with the body REST's
        `/authentication` answers, or `(error)` with a Feathers error; then join the room."""
        if service != "authentication":
            return _feathers_error(MethodNotAllowed("create", ()))
        try:
            checked = _sign_in_body(data, self.sandbox)
            if self.shared and checked.get("strategy") == "jwt":
                body, organisation = _token_only(checked["accessToken"], self.sandbox)
            else:
                body = auth.sign_in(checked, self.sandbox)
                organisation = auth.check(body["accessToken"], "access", self.sandbox).organisation
        except ApiError as error:
            return _feathers_error(error)
        session = await self.server.get_session(sid)
        previous = session.get("organisation")
        if previous is not None and previous != organisation:
            self.server.leave_room(sid, previous)
        self.server.enter_room(sid, organisation)
        self._signed_in[sid] = organisation
        await self.server.save_session(sid, {"organisation": organisation})
        return None, body

    async def _remove(self, sid: str, service: Any, token: Any = None, *_: Any) -> Any:
        """`remove("authentication", accessToken)`, the SDK's sign-out: leave the room."""
        if service != "authentication":
            return _feathers_error(MethodNotAllowed("remove", ()))
        session = await self.server.get_session(sid)
        if session.get("organisation") is not None:
            self.server.leave_room(sid, session["organisation"])
        self._signed_in.pop(sid, None)
        await self.server.save_session(sid, {})
        return None, {"accessToken": token}

    def _not_served(self, method: str) -> Any:
        """Services are served over REST only (the SDK finds over REST, then listens): a
        method over the socket answers as Feathers does for a method a service lacks."""

        async def answer(sid: str, *_: Any) -> Any:
            return _feathers_error(MethodNotAllowed(method, ()))

        return answer

    def publish(self, organisation: str, event: str, record: dict[str, Any]) -> None:
        """Send `billing-soas <event>` to the organisation's sockets, soon: the REST call that
        made the change neither waits for it nor fails with it."""
        if not self.server.manager.listens(organisation):
            return  # nobody of the organisation listens: no task for every write
        task = asyncio.get_running_loop().create_task(self._send(organisation, event, record))
        self._sending.add(task)  # a task nobody holds may be collected before it runs
        task.add_done_callback(self._sending.discard)

    async def _send(self, organisation: str, event: str, record: dict[str, Any]) -> None:
        async with self._order:  # the lock is fair: events leave in the order of the changes
            try:
                await self.server.emit(f"{SERVICE} {event}", record, room=organisation)
            except Exception:
                # The organisation is an email's domain: a bounded prefix of it, at most.
                log.exception(
                    "could not send %s %s to %.100r's sockets", SERVICE, event, organisation
                )


# A Socket.IO packet's head: type, attachments, namespace, ack id (`21["create", …]`).
_PACKET_HEAD = re.compile(r"(\d)(?:\d+-)?(?:(/[^,]*),)?(\d+)?")
_EVENTS = (packet.EVENT, packet.BINARY_EVENT)


class _PacketJson:
    """The JSON codec Engine.IO and Socket.IO decode packets with (the libraries take a
    module-like object): the REST bodies' decoder and depth limit, so no packet can nest
    deep enough to crash the decoder (the standard library's recurses: a `RecursionError`)."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str) -> Any:
        try:
            return decode_json(text.encode(), MAX_JSON_DEPTH, "event data")
        except MalformedBody as error:
            # The libraries expect a ValueError of what they cannot decode.
            raise ValueError(error.message) from None


class _Server(socketio_v4.AsyncServer):  # type: ignore[misc]
    """python-socketio 4's server, answering a packet it cannot use instead of failing on it
    (the exception would end in the log, traceback and all): an event that asked for an ack
    gets a Feathers `BadRequest`, as REST answers a body it cannot read; anything else is
    dropped."""

    async def _handle_eio_message(self, sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(sid, data)
        except (ValueError, TypeError) as error:  # not JSON, too deep, no packet type at all
            head = _PACKET_HEAD.match(data) if isinstance(data, str) else None
            if head is not None and int(head[1]) in _EVENTS and head[3] is not None:
                refusal = MalformedBody(f"the event cannot be read: {error}")
                await self._refuse(sid, head[2], int(head[3]), refusal)

    async def _handle_event(self, sid: str, namespace: str | None, id: Any, data: Any) -> None:
        # The library takes `data[0]` as the event's name, whatever `data` is.
        if isinstance(data, list) and data and isinstance(data[0], str):
            await super()._handle_event(sid, namespace, id, data)
        elif id is not None:
            refusal = MalformedBody("an event is a list: its name, then its arguments")
            await self._refuse(sid, namespace, id, refusal)

    async def _refuse(self, sid: str, namespace: str | None, id: int, error: ApiError) -> None:
        body = [_feathers_error(error)]
        ack = packet.Packet(packet.ACK, body, namespace=namespace or "/", id=id, binary=False)
        await self._send_packet(sid, ack)


class _BoundedLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Engine.IO's and Socket.IO's log, errors only (as with `logger=False`), each line cut to
    a bounded prefix with control characters escaped: they log what a client sent (an
    unknown session id, whole)."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and self.logger.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", shown(text), **kwargs)


def _rooms(redis_url: str) -> Rooms | SharedRooms:
    return SharedRooms(redis_url) if redis_url else Rooms()


def publish(call: Call[Any], event: str, record: dict[str, Any]) -> None:
    """After a stored change: `created`, `patched` or `removed`, to the caller's organisation."""
    hub = call.sandbox.mounted.get(auth.NAME)
    if isinstance(hub, Hub) and call.tenant_id is not None:
        hub.publish(call.tenant_id, event, record)


def endpoint(sandbox: Sandbox) -> ASGIApp:
    hub = Hub(sandbox)
    sandbox.mounted[auth.NAME] = hub
    # Engine.IO reads a polling request's whole body before it looks at its size.
    return BodyLimit(hub.app, sandbox.settings.max_body_bytes, _too_large)


def _too_large(message: str) -> Response:
    """413 in Feathers' shape (Feathers has no class of its own for it; Express, under it,
    names the error `PayloadTooLarge`)."""
    body = {
        "name": "PayloadTooLarge",
        "message": message,
        "code": 413,
        "className": "payload-too-large",
        "errors": {},
    }
    return Response(orjson.dumps(body), status_code=413, media_type="application/json")


MOUNT = Mount(PATH, endpoint)


def _sign_in_body(data: Any, sandbox: Sandbox) -> dict[str, Any]:
    """The data, checked as REST's `/authentication` checks its body (the same schema)."""
    operation = next(
        op for op in sandbox.spec(SPEC).operations if op.operation_id == "authenticate"
    )
    check = operation.body_checks["application/json"]
    if not isinstance(data, dict) or not check.is_valid(data):
        issues = check.issues(data, "body") or [Issue("body", (), "must be an object")]
        raise ValidationFailed(issues)
    return data


def _token_only(token: Any, sandbox: Sandbox) -> tuple[dict[str, Any], str]:
    """In a cluster, a socket's `jwt` sign-in (the SDK's, and every Feathers client's after a
    reconnect): the token checked by its signature, kind and expiry alone, so that the shard
    the socket happens to be on neither builds the organisation's tenant nor makes its account
    (that is the owner shard's, where REST signed in). The expiry is read on the tenant's clock
    when this shard holds it, else on the machine's (a clock moved with the control API moves
    the owner's only). The ack carries the token it was given, not fresh ones."""
    grant = auth.check(token, "access", sandbox, held_only=True)
    body = {"uid": grant.uid, "accessToken": token, "expiresAt": grant.expires * 1000}
    return body, grant.organisation


def _feathers_error(error: ApiError) -> dict[str, Any]:
    """The error a Feathers socket acks with: its JSON, the body REST would answer."""
    _, body = render_error(error)
    return body
