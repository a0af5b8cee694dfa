"""A Candid upstream that has drifted from our spec, for the proxy's tests.

It answers from a real sandbox in process, then breaks the spec in known ways: the token
response drops `expires_in` (required), a write-off's `amount_cents` is renamed `amountCents`,
and a revert answers 418, a status the spec does not declare.
"""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WRITE_OFF_PREFIX = "/api/write-offs/v1/"


def drifted_candid(sandbox: Starlette) -> Starlette:
    """The drifted upstream, in front of `sandbox`."""

    async def answer(request: Request) -> Response:
        path = request.url.path
        if request.method == "POST" and path.endswith("/revert"):
            return JSONResponse({"error": "I'm a teapot"}, status_code=418)
        headers = {k: v for k, v in request.headers.items() if k not in {"host", "content-length"}}
        transport = httpx.ASGITransport(app=sandbox)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            real = await c.request(
                request.method,
                path,
                params=request.url.query,
                headers=headers,
                content=await request.body(),
            )
        if not real.headers.get("content-type", "").startswith("application/json"):
            return Response(real.content, real.status_code, media_type=real.headers["content-type"])
        body = real.json()
        if path == "/api/auth/v2/token" and real.status_code == 200:
            del body["expires_in"]
        elif path.startswith(WRITE_OFF_PREFIX) and real.status_code == 200:
            body["amountCents"] = body.pop("amount_cents")
        return JSONResponse(body, status_code=real.status_code)

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
