"""The merger: the control calls about every tenant at once, asked of every shard and merged.

HAProxy sends it health, the global reset, fault rules, the journal (and its stream), whole-
server state and the tenant list. A shard that does not answer is named in `down`, and the
others' answers still come back; a whole-server restore changes nothing unless every shard is
up, so that no tenant is lost or left on two shards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from billing_sandbox.cluster.haproxy import SHARD_HEADER, shard_name
from billing_sandbox.cluster.placement import owner

# What a control call carries that a shard needs: credentials, the body's type, and what the
# control API's own-page check reads (a dashboard's Origin against the Host it came to).
_FORWARDED = ("authorization", "content-type", "cookie", "origin", "host", "accept")
_TIMEOUT = httpx.Timeout(30.0, connect=2.0)


@dataclass(frozen=True)
class Answer:
    shard: str
    status: int
    body: Any  # the JSON answered, or None


class Shards:
    """The cluster's shards, in order, and one HTTP client for asking them."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self.names = [shard_name(shard) for shard in range(len(urls))]
        self.client = httpx.AsyncClient(timeout=_TIMEOUT)

    async def ask(
        self, shard: int, request: Request, body: bytes | None = None, query: str | None = None
    ) -> Answer | None:
        """One shard's answer to the request (None: it is down)."""
        headers = {k: v for k, v in request.headers.items() if k in _FORWARDED}
        url = self.urls[shard] + request.url.path
        wanted = request.url.query if query is None else query
        if wanted:
            url += "?" + wanted
        try:
            got = await self.client.request(request.method, url, content=body, headers=headers)
        except httpx.HTTPError:
            return None
        try:
            parsed = got.json()
        except ValueError:
            parsed = None
        return Answer(self.names[shard], got.status_code, parsed)

    async def is_up(self, shard: int) -> bool:
        try:
            got = await self.client.get(self.urls[shard] + "/_sandbox/health")
        except httpx.HTTPError:
            return False
        return got.status_code == 200

    async def ask_all(self, request: Request, body: bytes | None = None) -> list[Answer | None]:
        return list(
            await asyncio.gather(
                *(self.ask(shard, request, body) for shard in range(len(self.urls)))
            )
        )

    def down(self, answers: Sequence[Answer | None]) -> list[str]:
        return [name for name, answer in zip(self.names, answers, strict=True) if answer is None]


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body), status, media_type="application/json", headers={SHARD_HEADER: "all"}
    )


def _first_refusal(answers: Sequence[Answer | None]) -> Response | None:
    """A shard's 4xx (a bad call, a missing token): every shard would say the same."""
    for answer in answers:
        if answer is not None and 400 <= answer.status < 500:
            return _json(answer.body, answer.status)
    return None


def merged_traffic(bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every shard's `GET /_sandbox/traffic`, added up: API by API, each second's requests,
    failures and duration buckets summed by how many seconds ago it was (the shards are asked
    at the same moment, so their seconds line up)."""
    apis: dict[str, dict[int, dict[str, Any]]] = {}
    for body in bodies:
        for api, seconds in body["apis"].items():
            by_ago = apis.setdefault(api, {})
            for second in seconds:
                kept = by_ago.get(second["ago"])
                if kept is None:
                    by_ago[second["ago"]] = {**second, "buckets": list(second["buckets"])}
                    continue
                kept["requests"] += second["requests"]
                kept["failures"] += second["failures"]
                kept["buckets"] = [
                    a + b for a, b in zip(kept["buckets"], second["buckets"], strict=True)
                ]
    first = bodies[0]
    return {
        "minutes": first["minutes"],
        "bucketBounds": first["bucketBounds"],
        # Oldest first, as each shard answers.
        "apis": {
            api: sorted(by_ago.values(), key=lambda s: -s["ago"]) for api, by_ago in apis.items()
        },
    }


def _up(answers: Sequence[Answer | None]) -> list[Answer]:
    return [answer for answer in answers if answer is not None]


def _no_shard(shards: Shards) -> Response:
    message = "no shard answered: " + ", ".join(shards.names) + " are all down"
    return _json({"error": "ShardsDown", "message": message, "down": shards.names}, 503)


@dataclass(frozen=True)
class Asked:
    """What every shard answered: the answers of those up, and the names of those down."""

    up: list[Answer]
    down: list[str]


async def ask_every_shard(
    shards: Shards, request: Request, body: bytes | None = None, refusals: bool = True
) -> Asked | Response:
    """Every shard's answer to the request; or what to send instead: with `refusals`, a
    shard's 4xx (every shard would say the same), and a 503 when no shard answered."""
    answers = await shards.ask_all(request, body)
    refused = _first_refusal(answers) if refusals else None
    if refused is not None:
        return refused
    up = _up(answers)
    if not up:
        return _no_shard(shards)
    return Asked(up, shards.down(answers))


def app(shards: Shards) -> Starlette:
    """The merger's app, over `shards`."""

    async def health(request: Request) -> Response:
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        state = "ok" if not asked.down else "degraded"
        merged = {**asked.up[0].body, "status": state, "shards": len(shards.names)}
        return _json({**merged, "down": asked.down})

    async def fan_out(request: Request) -> Response:
        """Reset, save, clear: each shard does it; counts are added up."""
        asked = await ask_every_shard(shards, request, await request.body() or None)
        if isinstance(asked, Response):
            return asked
        merged: dict[str, Any] = dict(asked.up[0].body)
        for key, value in merged.items():
            if isinstance(value, int) and not isinstance(value, bool):
                merged[key] = sum(answer.body.get(key, 0) for answer in asked.up)
        return _json({**merged, "down": asked.down})

    async def faults(request: Request) -> Response:
        """The rules (every shard holds the same ones), with their firings added up."""
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        rules: dict[str, dict[str, Any]] = {}
        for answer in asked.up:
            for rule in answer.body["faults"]:
                kept = rules.setdefault(rule["id"], {**rule, "fired": 0})
                kept["fired"] += rule["fired"]
        return _json({"faults": list(rules.values()), "down": asked.down})

    async def one_rule(request: Request) -> Response:
        """Add or remove a rule on every shard; the answer is the first shard's that did it
        (a rule missing from some shards is still removed from the others)."""
        body = await request.body() or None
        asked = await ask_every_shard(shards, request, body, refusals=False)
        if isinstance(asked, Response):
            return asked
        found = next((a for a in asked.up if a.status < 400), asked.up[0])
        answer = dict(found.body) if isinstance(found.body, dict) else {"answer": found.body}
        if found.status < 400:
            answer["down"] = asked.down
        return _json(answer, found.status)

    async def journal(request: Request) -> Response:
        """Every shard's entries, newest first (by time), each naming its shard."""
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        entries = [{**e, "shard": a.shard} for a in asked.up for e in a.body["requests"]]
        entries.sort(key=lambda entry: entry["time"], reverse=True)
        limit = int(request.query_params.get("limit", "100"))
        # A page of the merged journal is cut by time (`until`), not by one shard's sequence.
        return _json({"requests": entries[:limit], "nextBefore": None, "down": asked.down})

    async def tenants(request: Request) -> Response:
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        # A socket may be on any shard, its organisation's tenant on another: every shard's
        # sockets count for the tenant, wherever it is held.
        sockets: dict[str, int] = {}
        for answer in asked.up:
            for organisation, count in answer.body.get("sockets", {}).items():
                sockets[organisation] = sockets.get(organisation, 0) + count
        listed = [
            {**t, "shard": a.shard, "sockets": sockets.get(t["id"], 0)}
            for a in asked.up
            for t in a.body["tenants"]
        ]
        total = sum(answer.body["maxTenants"] for answer in asked.up)
        return _json(
            {"maxTenants": total, "tenants": listed, "sockets": sockets, "down": asked.down}
        )

    async def traffic(request: Request) -> Response:
        """The dashboard's charts: every shard's traffic, added up."""
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        charted = [a.body for a in asked.up if a.status == 200 and isinstance(a.body, dict)]
        if not charted:
            # Nothing to add up: a HEAD's empty answers, or every shard's own error (metrics
            # off: a 404 each), passed on as the first shard gave it.
            first = asked.up[0]
            return _json(first.body, first.status)
        return _json({**merged_traffic(charted), "down": asked.down})

    async def state(request: Request) -> Response:
        if request.method == "PUT":
            return await _restore(request, shards)
        asked = await ask_every_shard(shards, request)
        if isinstance(asked, Response):
            return asked
        if asked.down:
            # A snapshot without a shard's tenants would lose them when restored.
            message = f"not every shard answered ({', '.join(asked.down)}): no whole snapshot"
            return _json({"error": "ShardsDown", "message": message, "down": asked.down}, 503)
        merged: dict[str, Any] = {}
        for answer in asked.up:
            merged.update(answer.body["tenants"])
        return _json({"format": asked.up[0].body["format"], "tenants": merged})

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(
            _merged_stream(request, shards),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", SHARD_HEADER: "all"},
        )

    return Starlette(
        routes=[
            Route("/_sandbox/health", health),
            Route("/_sandbox/reset", fan_out, methods=["POST"]),
            Route("/_sandbox/state/save", fan_out, methods=["POST"]),
            Route("/_sandbox/state", state, methods=["GET", "PUT"]),
            Route("/_sandbox/faults", faults, methods=["GET"]),
            Route("/_sandbox/faults", one_rule, methods=["POST"]),
            Route("/_sandbox/faults", fan_out, methods=["DELETE"]),
            Route("/_sandbox/faults/{fault_id}", one_rule, methods=["DELETE"]),
            Route("/_sandbox/requests", journal, methods=["GET"]),
            Route("/_sandbox/requests", fan_out, methods=["DELETE"]),
            Route("/_sandbox/requests/stream", stream),
            Route("/_sandbox/tenants", tenants),
            Route("/_sandbox/traffic", traffic),
        ],
    )


async def _restore(request: Request, shards: Shards) -> Response:
    """A whole-server snapshot, each tenant to the shard that owns it now (every shard gets
    its part, empty too, so that a tenant that moved leaves its old shard)."""
    try:
        document = orjson.loads(await request.body())
        tenants = document["tenants"]
        if not isinstance(tenants, dict):
            raise TypeError("tenants")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        body = {"error": "BadRequest", "message": "a snapshot is {format, tenants: {...}} JSON"}
        return _json(body, 400)
    up = await asyncio.gather(*(shards.is_up(shard) for shard in range(len(shards.urls))))
    down = [name for name, alive in zip(shards.names, up, strict=True) if not alive]
    if down:
        message = f"not every shard is up ({', '.join(down)}): nothing was restored"
        return _json({"error": "ShardsDown", "message": message, "down": down}, 503)
    parts: list[dict[str, Any]] = [{} for _ in shards.urls]
    for tenant_id, data in tenants.items():
        parts[owner(tenant_id, len(shards.urls))][tenant_id] = data
    answers = await asyncio.gather(
        *(
            shards.ask(shard, request, orjson.dumps({**document, "tenants": part}))
            for shard, part in enumerate(parts)
        )
    )
    refused = _first_refusal(answers)
    if refused is not None:
        return refused
    restored: dict[str, Any] = {}
    for answer in _up(answers):
        restored.update(answer.body["tenants"])
    return _json({"tenants": restored, "down": shards.down(answers)})


def _cursor(text: str, names: Sequence[str]) -> dict[str, int]:
    """`shard0=12,shard1=40` (the merged stream's event id) → the last entry seen per shard."""
    seen: dict[str, int] = {}
    for part in text.split(","):
        name, _, seq = part.partition("=")
        if name in names and seq.isdigit():
            seen[name] = int(seq)
    return seen


async def _merged_stream(request: Request, shards: Shards) -> AsyncIterator[bytes]:
    """Each shard's stream at once; an event's id is the whole cursor (the last entry seen of
    every shard), so that a browser reconnecting with it resumes every shard where it was."""
    given = request.headers.get("last-event-id") or request.query_params.get("cursor") or ""
    seen = _cursor(given, shards.names)
    seconds = request.query_params.get("seconds", "30")
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def follow(shard: int) -> None:
        name = shards.names[shard]
        after = f"&after={seen[name]}" if name in seen else ""
        url = f"{shards.urls[shard]}/_sandbox/requests/stream?seconds={seconds}{after}"
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "cookie")}
        with contextlib.suppress(httpx.HTTPError):
            async with shards.client.stream("GET", url, headers=headers, timeout=None) as got:
                data = ""
                async for line in got.aiter_lines():
                    if line.startswith("data: "):
                        data = line[6:]
                    elif not line and data:
                        await queue.put((name, orjson.loads(data)))
                        data = ""

    followers = [asyncio.create_task(follow(shard)) for shard in range(len(shards.urls))]
    try:
        yield b"retry: 1000\n\n"
        while not all(task.done() for task in followers) or not queue.empty():
            try:
                name, entry = await asyncio.wait_for(queue.get(), 0.25)
            except TimeoutError:
                continue
            seen[name] = entry["seq"]
            cursor = ",".join(f"{n}={seen[n]}" for n in shards.names if n in seen)
            data = orjson.dumps({**entry, "shard": name})
            yield b"id: %s\nevent: request\ndata: %s\n\n" % (cursor.encode(), data)
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
