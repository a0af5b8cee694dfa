"""create_proxy_app(): forward each request to the real API, check its answer against our spec."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from billing_sandbox.api import Api
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.control.access import is_loopback
from billing_sandbox.observe import redaction as redact
from billing_sandbox.observe.journal import Filter, Journal
from billing_sandbox.pipeline.routes import EVERY_METHOD
from billing_sandbox.proxy.checks import (
    HEADER,
    MAX_KEPT,
    OperationIndex,
    Violation,
    check_response,
    header_value,
)
from billing_sandbox.proxy.record import Recorder
from billing_sandbox.recordings import Exchange, Message
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import load_spec

log = logging.getLogger("billing_sandbox.proxy")

Endpoint = Callable[[Request], Awaitable[Response]]

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# httpx sets these from the upstream URL and the body it sends; the client's would name the
# proxy (Host) or could disagree with the body once hop-by-hop framing is gone.
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
JOURNAL_PATH = "/_sandbox/requests"
# Generous (a vendor's list call can be slow), but a hung upstream must not hold a client forever.
TIMEOUT = httpx.Timeout(60.0).as_dict()


@dataclass
class Proxy:
    """Everything a proxied request needs: the API and its operations, the upstream, where
    exchanges are kept."""

    api: Api
    operations: OperationIndex
    upstream: str
    client: httpx.AsyncClient
    journal: Journal
    recorder: Recorder | None


def vendor_api(name: str) -> Api:
    for api in VENDOR_APIS:
        if api.name == name:
            return api
    raise ValueError(f"unknown API {name!r}; one of {', '.join(a.name for a in VENDOR_APIS)}")


def create_proxy_app(
    api_name: str,
    upstream: str,
    *,
    record_dir: Path | None = None,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """A proxy for one API in front of `upstream` (its base URL). `transport` lets tests put
    an app in process behind it; the journal's size comes from `settings`."""
    settings = settings or Settings()
    api = vendor_api(api_name)
    spec = load_spec(settings.specs_dir / api.spec_file)
    proxy = Proxy(
        api=api,
        operations=OperationIndex(spec, api.trailing_slash),
        upstream=upstream.rstrip("/"),
        # No redirects followed (the client must see the upstream's own answer) and no
        # environment proxies: the upstream is exactly the URL the user gave.
        client=httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False),
        journal=Journal(settings.journal_size, settings.journal_body_bytes),
        recorder=Recorder(record_dir) if record_dir is not None else None,
    )
    # Every path, including one with a newline in it (Starlette's `.*` stops at one).
    catch_all = Route("/{path:path}", _forward(proxy), methods=EVERY_METHOD)
    catch_all.path_regex = re.compile(r"^/(?P<path>.*)\Z", re.DOTALL)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await proxy.client.aclose()

    app = Starlette(
        routes=[Route(JOURNAL_PATH, _journal(proxy), methods=["GET", "DELETE"]), catch_all],
        lifespan=lifespan,
    )
    app.state.proxy = proxy
    return app


def _forward(proxy: Proxy) -> Endpoint:
    async def forward(request: Request) -> Response:
        started = time.perf_counter()
        method = request.method
        path = request.scope["path"]
        query = request.scope["query_string"].decode("latin-1")
        body = await request.body()
        # Headers the client's `Connection` names are hop-by-hop too (RFC 9110 §7.6.1).
        dropped = NOT_FORWARDED | {
            name.strip().lower() for name in request.headers.get("connection", "").split(",")
        }
        headers = [(k, v) for k, v in request.headers.items() if k not in dropped]
        raw_path = request.scope.get("raw_path") or path.encode()
        url = proxy.upstream + raw_path.decode("latin-1") + (f"?{query}" if query else "")
        try:
            # A bare Request, not `client.build_request`: that would add the client's default
            # headers (User-Agent, and Accept-Encoding, which would get the client a
            # compressed answer it did not ask for). httpx adds only Host and Content-Length.
            outgoing = httpx.Request(
                method, url, headers=headers, content=body, extensions={"timeout": TIMEOUT}
            )
            upstream = await proxy.client.send(outgoing, stream=True)
            try:
                # The bytes as sent (still compressed, if they were), to pass on unchanged.
                raw = b"".join([chunk async for chunk in upstream.aiter_raw()])
            finally:
                await upstream.aclose()
        except httpx.HTTPError as error:
            log.error("%s %s %s: upstream failed: %r", proxy.api.name, method, path, error)
            message = f"the proxy could not reach {proxy.upstream}: {error!r}"
            return JSONResponse({"error": "BadGateway", "message": message}, status_code=502)

        content = _decoded(upstream, raw)
        violations, operation_id = _check(proxy, request, upstream.status_code, content)
        response = Response(raw, status_code=upstream.status_code)
        response.raw_headers = _response_headers(upstream, raw, method)
        if violations is not None:
            response.headers[HEADER] = header_value(violations)
        kept = (violations or [])[:MAX_KEPT]
        for violation in kept:
            status = upstream.status_code
            log.warning("%s %s %s -> %d: %s", proxy.api.name, method, path, status, violation)
        journaled = tuple(v.as_json() for v in kept)
        _keep(proxy, request, body, upstream, content or b"", operation_id, journaled, started)
        return response

    return forward


def _decoded(upstream: httpx.Response, raw: bytes) -> bytes | None:
    """The body decoded as the client will decode it (gzip, br …), or None if it cannot be."""
    if "content-encoding" not in upstream.headers:
        return raw
    try:
        return httpx.Response(upstream.status_code, headers=upstream.headers, content=raw).content
    except httpx.DecodingError:
        return None


def _check(
    proxy: Proxy, request: Request, status: int, content: bytes | None
) -> tuple[list[Violation] | None, str | None]:
    """The response's violations (None: not checked) and the operation it answered."""
    method = request.method
    if method == "OPTIONS" and "access-control-request-method" in request.headers:
        # A CORS preflight is the browser's, not an operation of the API.
        return None, None
    found = proxy.operations.match(method, request.scope["path"])
    if isinstance(found, Violation):
        return [found], None
    if content is None:
        bad = Violation(found.operation_id, "body", "cannot be decoded (Content-Encoding)")
        return [bad], found.operation_id
    return check_response(found, method, status, content), found.operation_id


def _response_headers(
    upstream: httpx.Response, raw: bytes, method: str
) -> list[tuple[bytes, bytes]]:
    """The upstream's headers, repeats and order kept, without hop-by-hop ones. The body is
    now whole, so it goes out with a Content-Length instead of the upstream's chunking."""
    dropped = HOP_BY_HOP | {
        name.strip().lower() for name in upstream.headers.get("connection", "").split(",")
    }
    headers = [
        (k, v) for k, v in upstream.headers.raw if k.decode("latin-1").lower() not in dropped
    ]
    # A HEAD answer's Content-Length is the GET body's; 1xx, 204 and 304 have no body at all.
    bodiless = method == "HEAD" or upstream.status_code in {204, 304} or upstream.status_code < 200
    if "content-length" not in upstream.headers and not bodiless:
        headers.append((b"content-length", str(len(raw)).encode()))
    return headers


def _keep(
    proxy: Proxy,
    request: Request,
    body: bytes,
    upstream: httpx.Response,
    content: bytes,
    operation_id: str | None,
    violations: tuple[dict[str, str], ...],
    started: float,
) -> None:
    """Journal the exchange (and record it, with --record), its secrets redacted first."""
    now = datetime.now(UTC)
    request_type = request.headers.get("content-type", "")
    response_type = upstream.headers.get("content-type", "")
    query = redact.query(request.scope["query_string"].decode("latin-1"))
    proxy.journal.record(
        time=now.timestamp(),
        tenant=None,  # the proxy does not know the upstream's tenants
        api=proxy.api.name,
        operation_id=operation_id or "",
        method=request.method,
        path=request.scope["path"],
        query=query,
        status=upstream.status_code,
        duration_ms=(time.perf_counter() - started) * 1000,
        request_body=redact.body_bytes(body, request_type),
        response_body=redact.body_bytes(content, response_type),
        violations=violations,
    )
    if proxy.recorder is None:
        return
    request_value, request_text = redact.body(body, request_type)
    response_value, response_text = redact.body(content, response_type)
    # Recorded bodies are decoded, so the headers must not claim an encoding any more.
    response_headers = redact.headers(
        (k, v) for k, v in upstream.headers.multi_items() if k not in {"content-encoding"}
    )
    proxy.recorder.write(
        Exchange(
            api=proxy.api.name,
            operation_id=operation_id,
            recorded_at=now.isoformat(),
            method=request.method,
            path=request.scope["path"],
            query=query,
            request=Message(redact.headers(request.headers.items()), request_value, request_text),
            status=upstream.status_code,
            response=Message(response_headers, response_value, response_text),
            violations=violations,
        )
    )


def _journal(proxy: Proxy) -> Endpoint:
    """`GET /_sandbox/requests` (the sandbox's filters and page shape, plus `violations=true`
    for the exchanges that broke the spec) and `DELETE`, for this machine's clients only: the
    journal holds upstream data."""

    async def journal(request: Request) -> Response:
        if not is_loopback(request.client):
            message = "the proxy's journal answers clients on this machine only"
            return JSONResponse({"error": "Forbidden", "message": message}, status_code=403)
        if request.method == "DELETE":
            return JSONResponse({"cleared": proxy.journal.clear()})
        params = request.query_params
        try:
            limit = int(params.get("limit", "100"))
            before = int(params["before"]) if "before" in params else None
            status = int(params["status"]) if "status" in params else None
            if not 1 <= limit <= 1000:
                raise ValueError("limit must be 1 to 1000")
        except ValueError as error:
            return JSONResponse({"error": "ValidationFailed", "message": str(error)}, 422)
        violated = {"true": True, "false": False}.get(params.get("violations", ""))
        wanted = Filter(
            operation_id=params.get("operationId"),
            status=status,
            before=before,
            violated=violated,
        )
        entries, next_before = proxy.journal.find(wanted, limit)
        page = {"requests": [entry.as_json() for entry in entries], "nextBefore": next_before}
        return Response(orjson.dumps(page), media_type="application/json")

    return journal
