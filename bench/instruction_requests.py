"""The requests whose CPU instructions `bench_instructions.py` and `instructions_guard.py`
count: the seven reads and three writes of `bench_apis.py`, each called over ASGI in process
(no uvicorn, no sockets: what the app itself costs, logging one line a request as `serve`
does), next to a bare Starlette app answering with the same bytes (the ceiling).

`measure()` runs this file under callgrind (`callgrind.py`); run so, it seeds the tenants, signs
in and finds the records read, warms every request up (kept renderings made, caches filled),
then counts each scenario as two blocks of `requests` calls: the ceiling's, the sandbox's.
Reads go to a tenant as seeded; writes to another, so the records they add never weigh on the
reads. A write changes its tenant on every call: its block is the same N calls every run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

import orjson
from callgrind import block, count_blocks, end_child, start_counting

# Each scenario's short name (the command line's, the baseline's) and what it is.
CASES: dict[str, str] = {
    "candid": "Candid write-off by id",
    "candidpage": "Candid 100-item page",
    "decoda": "Decoda charge by id",
    "decodalist": "Decoda charge list",
    "timeline": "Decoda charge timeline",
    "mycure": "MYCURE statement by id",
    "mycurefind": "MYCURE find, filtered, sorted, 100",
    "candidcreate": "Candid create (write)",
    "decodacash": "Decoda cash payment (write)",
    "mycurecreate": "MYCURE create (write)",
}
READS_TENANT = "bench"
WRITES_TENANT = "bench-writes"
WARM_UP = 100  # calls of each request, to each app, before anything is counted
RUN_TIMEOUT = 1800.0  # seconds the counted run may take at most


@dataclass(frozen=True)
class Counted:
    """One scenario's CPU instructions per request: the sandbox's and the ceiling's."""

    sandbox: float
    ceiling: float

    @property
    def ratio(self) -> float:
        return self.sandbox / self.ceiling


def measure(cases: list[str], requests: int, metrics: bool = True) -> dict[str, Counted]:
    """Count `requests` calls of each case on both apps, under callgrind (minutes); without
    `metrics`, the sandbox runs as `serve --no-metrics` does."""
    child = [sys.executable, __file__, "--requests", str(requests), *cases]
    if not metrics:
        child.append("--no-metrics")
    blocks = count_blocks(child, timeout=RUN_TIMEOUT)
    return {
        name: Counted(blocks[f"{name} sandbox"] / requests, blocks[f"{name} ceiling"] / requests)
        for name in cases
    }


# ---- the child, under callgrind ----


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    query: bytes = b""
    body: bytes = b""
    expected: int = 200
    scope: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        if self.body:
            raw.append((b"content-length", str(len(self.body)).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": self.method, "scheme": "http", "path": self.path,
                 "raw_path": self.path.encode(), "query_string": self.query, "root_path": "",
                 "headers": [*raw, (b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5555),
                 "server": ("127.0.0.1", 8000), "state": {}}  # fmt: skip
        object.__setattr__(self, "scope", scope)


async def call(app: Any, request: Request) -> tuple[int, bytes]:
    """One ASGI call of `app`: the status and the body answered."""
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": request.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(dict(request.scope), receive, send)
    return answer["status"], answer["body"]


async def _json(app: Any, request: Request) -> Any:
    status, body = await call(app, request)
    if status >= 300:
        raise SystemExit(f"{request.method} {request.path}: answered {status}: {body[:200]!r}")
    return orjson.loads(body)


async def _credentials(app: Any, tenant: str) -> tuple[dict[str, str], ...]:
    """Headers for `tenant` in each API: Candid's, Decoda's and MYCURE's."""
    json = {"content-type": "application/json"}
    login = orjson.dumps({"client_id": tenant, "client_secret": "x"})
    token = await _json(app, Request("POST", "/api/auth/v2/token", json, body=login))
    sign_in = {"strategy": "local", "email": f"ana@{tenant}.test", "password": "x"}
    signed = await _json(app, Request("POST", "/authentication", json, body=orjson.dumps(sign_in)))
    return (
        {"authorization": f"Bearer {token['access_token']}"},
        {"tenant": tenant, "api-key": "bench"},
        {"authorization": f"Bearer {signed['accessToken']}"},
    )


async def _requests(app: Any) -> dict[str, Request]:
    """Sign in to each API and find the records read, as `bench_apis.discover` does."""
    candid, decoda, mycure = await _credentials(app, READS_TENANT)
    page = await _json(app, Request("GET", "/api/write-offs/v1", candid, b"limit=1"))
    charges = await _json(app, Request("GET", "/billing/charge/list", decoda))
    soas = await _json(app, Request("GET", "/billing-soas", mycure, b"$limit=1"))
    write_off = page["items"][0]["write_off_id"]
    charge, soa = charges[0]["id"], soas[0]["id"]
    candid_w, decoda_w, mycure_w = await _credentials(app, WRITES_TENANT)
    owed_charges = await _json(app, Request("GET", "/billing/charge/list", decoda_w))
    owed = next(c for c in owed_charges if c["totalOutstanding"] > 10_000)
    reference = f"/_sandbox/tenants/{WRITES_TENANT}.test/reference/mycure"
    mycure_reference = await _json(app, Request("GET", reference, {}))
    candid_write = {"write_offs": [{
        "type": "patient", "write_off_timestamp": "2024-01-15T09:30:00Z",
        "write_off_reason": "SMALL_BALANCE",
        "service_line_id": "5e1f0000-0000-4000-8000-000000000001", "amount_cents": 1,
    }]}  # fmt: skip
    cash = [{"id": owed["id"], "patientId": owed["patientId"], "totalOutstanding": 0}]
    statement = {"facility": mycure_reference["facilities"][0]["id"], "type": "organization",
                 "customer": mycure_reference["customers"]["organizations"][0]["id"]}  # fmt: skip
    json = {"content-type": "application/json"}
    return {
        "candid": Request("GET", f"/api/write-offs/v1/{write_off}", candid),
        "candidpage": Request("GET", "/api/write-offs/v1", candid, b"limit=100"),
        "decoda": Request("GET", f"/billing/charge/get/{charge}", decoda),
        "decodalist": Request("GET", "/billing/charge/list", decoda),
        "timeline": Request("GET", "/billing/charge/timeline", decoda,
                            f"charge_id={charge}".encode()),
        "mycure": Request("GET", f"/billing-soas/{soa}", mycure),
        "mycurefind": Request("GET", "/billing-soas", mycure,
                              b"type=organization&$sort[createdAt]=-1&$limit=100"),
        "candidcreate": Request("POST", "/api/write-offs/v1", {**candid_w, **json},
                                body=orjson.dumps(candid_write)),
        "decodacash": Request("POST", "/billing/payment-terminal/charge/create-cash-settled",
                              {**decoda_w, **json}, b"payment_medium=CASH&amount=1",
                              body=orjson.dumps(cash)),
        "mycurecreate": Request("POST", "/billing-soas", {**mycure_w, **json},
                                body=orjson.dumps(statement), expected=201),
    }  # fmt: skip


def _ceiling(request: Request, body: bytes) -> Any:
    """A bare Starlette app answering `request` with the sandbox's bytes and status."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def same_bytes(_: object) -> Response:
        return Response(body, status_code=request.expected, media_type="application/json")

    return Starlette(routes=[Route(request.path, same_bytes, methods=[request.method])])


async def _counted(cases: list[str], requests: int, metrics: bool) -> None:
    from billing_sandbox.app import create_app
    from billing_sandbox.cli.serve import LOG_FLUSH_SECONDS, AnswerCutOffRequests
    from billing_sandbox.observe import requestlog
    from billing_sandbox.settings import Settings

    # As `serve` runs: one log line per request, batched in a 64 KiB buffer, to a file.
    log = tempfile.TemporaryFile("w+", buffering=1 << 16)  # noqa: SIM115 - open for the run
    requestlog.configure(log, "text", quiet=False, flush_after=LOG_FLUSH_SECONDS)
    app = create_app(Settings(metrics=metrics))
    served = AnswerCutOffRequests(app, lambda: False)
    async with app.router.lifespan_context(app):
        chosen = {name: request for name, request in (await _requests(served)).items()
                  if name in cases}  # fmt: skip
        apps: dict[str, dict[str, Any]] = {}
        for name, request in chosen.items():
            status, body = await call(served, request)
            if status != request.expected:
                raise SystemExit(f"{name}: the sandbox answered {status}: {body[:200]!r}")
            apps[name] = {"ceiling": _ceiling(request, body), "sandbox": served}
        for name, request in chosen.items():
            for target in apps[name].values():
                for _ in range(WARM_UP):
                    await call(target, request)
        start_counting()
        for name in cases:
            request = chosen[name]
            for label, target in apps[name].items():
                # Each block starts with nothing collectable from before it (what earlier
                # blocks left is collected, what survives frozen): it pays for the
                # collections its own calls cause, never for one that another block's garbage
                # made due, which would move with every change to any other request.
                gc.collect()
                gc.freeze()
                with block(f"{name} {label}"):
                    for _ in range(requests):
                        status, _body = await call(target, request)
                        if status != request.expected:
                            raise SystemExit(f"{name} {label}: answered {status}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the child of `measure()`, under callgrind")
    parser.add_argument("cases", nargs="+", choices=CASES)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--no-metrics", dest="metrics", action="store_false")
    options = parser.parse_args(argv)
    asyncio.run(_counted(options.cases, options.requests, options.metrics))
    end_child()


if __name__ == "__main__":
    main()
