"""By-hand: CPU instructions per request, the sandbox's app against a bare Starlette ceiling.

Wall-clock figures on a shared machine move by a tenth from one run to the next; instruction
counts do not. Each request is one in-process ASGI call (no uvicorn, no sockets: what the app
itself costs), counted by valgrind's callgrind, which dumps its counters each time the script
calls `os.getppid()` (around each block of requests). Needs `valgrind` (Debian: `valgrind`);
without it the script says so and exits 2. Never run in CI. See bench/README.md.

    .venv/bin/python bench/bench_instructions.py            # about 2 minutes
    .venv/bin/python bench/bench_instructions.py candid decoda --requests 300

Counts include what valgrind counts of a copy (`rep movsb`, one per byte), so a large body's
copies weigh more here than in wall time: compare requests with themselves, change by change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

CASES = ("candid", "candidpage", "decoda", "decodalist", "timeline", "mycure", "mycurefind")
_BLOCK = "BLOCK "


def _scope(method: str, path: str, headers: dict[str, str], query: bytes = b"") -> dict[str, Any]:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"127.0.0.1")]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query, "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000), "state": {}}  # fmt: skip


async def _call(app: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        else:
            answer["body"] += message.get("body", b"")

    await app(dict(scope), receive, send)
    return answer["status"], answer["body"]


async def _measured(cases: list[str], requests: int) -> None:
    """Run under callgrind: each block of requests between two dumps, named on stdout."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from billing_sandbox.app import create_app
    from billing_sandbox.cli.serve import AnswerCutOffRequests
    from billing_sandbox.observe import requestlog
    from billing_sandbox.settings import Settings

    # As `serve` runs: one log line per request, batched to a file.
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - open for the whole run
    requestlog.configure(log, "text", quiet=False, flush_after=0.2)
    app = create_app(Settings())
    served = AnswerCutOffRequests(app, lambda: False)
    async with app.router.lifespan_context(app):
        json = {"content-type": "application/json"}
        login = orjson.dumps({"client_id": "bench.test", "client_secret": "x"})
        _, token = await _call(served, _scope("POST", "/api/auth/v2/token", json), login)
        sign_in = {"strategy": "local", "email": "ana@bench.test", "password": "x"}
        sign_in_scope = _scope("POST", "/authentication", json)
        _, signed = await _call(served, sign_in_scope, orjson.dumps(sign_in))
        candid = {"authorization": f"Bearer {orjson.loads(token)['access_token']}"}
        decoda = {"tenant": "bench.test", "api-key": "bench"}
        mycure = {"authorization": f"Bearer {orjson.loads(signed)['accessToken']}"}
        _, page = await _call(served, _scope("GET", "/api/write-offs/v1", candid, b"limit=1"))
        _, charges = await _call(served, _scope("GET", "/billing/charge/list", decoda))
        _, soas = await _call(served, _scope("GET", "/billing-soas", mycure, b"$limit=1"))
        write_off = orjson.loads(page)["items"][0]["write_off_id"]
        charge, soa = orjson.loads(charges)[0]["id"], orjson.loads(soas)[0]["id"]
        scopes = {
            "candid": _scope("GET", f"/api/write-offs/v1/{write_off}", candid),
            "candidpage": _scope("GET", "/api/write-offs/v1", candid, b"limit=100"),
            "decoda": _scope("GET", f"/billing/charge/get/{charge}", decoda),
            "decodalist": _scope("GET", "/billing/charge/list", decoda),
            "timeline": _scope(
                "GET", "/billing/charge/timeline", decoda, f"charge_id={charge}".encode()
            ),
            "mycure": _scope("GET", f"/billing-soas/{soa}", mycure),
            "mycurefind": _scope(
                "GET", "/billing-soas", mycure, b"type=organization&$sort[createdAt]=-1&$limit=100"
            ),
        }
        for name in cases:
            scope = scopes[name]
            status, body = await _call(served, scope)
            if status != 200:
                raise SystemExit(f"{name}: the sandbox answered {status}: {body[:200]!r}")

            async def same_bytes(request: Any, body: bytes = body) -> Response:
                return Response(body, status_code=200, media_type="application/json")

            ceiling = Starlette(routes=[Route(scope["path"], same_bytes)])
            for _ in range(100):  # warm: kept renderings made, caches filled
                await _call(served, scope)
                await _call(ceiling, scope)
            for label, target in (("ceiling", ceiling), ("sandbox", served)):
                os.getppid()  # a dump: what came before
                for _ in range(requests):
                    await _call(target, scope)
                os.getppid()  # a dump: this block
                print(f"{_BLOCK}{name} {label}", flush=True)


def _totals(prefix: Path) -> list[int]:
    """Each dump's instruction total, in the order the dumps were made."""
    parts = sorted(
        (p for p in prefix.parent.glob(prefix.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
    )
    totals = []
    for part in parts:
        found = re.search(r"^(?:totals|summary): (\d+)", part.read_text(), re.MULTILINE)
        if found is None:
            raise SystemExit(f"no totals in {part}")
        totals.append(int(found.group(1)))
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    parser.add_argument("--measured", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    cases = options.cases or list(CASES)
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"no such request: {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if options.measured:
        asyncio.run(_measured(cases, options.requests))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("bench_instructions: valgrind is not installed (apt-get install valgrind)",
              file=sys.stderr)  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory() as work:
        prefix = Path(work) / "callgrind"
        command = [valgrind, "--tool=callgrind", "--dump-before=os_getppid*",
                   f"--callgrind-out-file={prefix}", sys.executable, __file__, "--measured",
                   "--requests", str(options.requests), *cases]  # fmt: skip
        # A fixed hash seed: the same dict layouts, so the same counts, run after run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
        if run.returncode != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        lines = run.stdout.splitlines()
        blocks = [line.removeprefix(_BLOCK) for line in lines if line.startswith(_BLOCK)]
        # Dumps alternate: what came before a block, then the block.
        counts = dict(zip(blocks, _totals(prefix)[1::2], strict=True))
    print("| request | ceiling instructions/request | sandbox | sandbox / ceiling |")
    print("|---|---:|---:|---:|")
    for name in cases:
        ceiling = counts[f"{name} ceiling"] / options.requests
        sandbox = counts[f"{name} sandbox"] / options.requests
        ratio = sandbox / ceiling
        print(f"| {name} | {ceiling / 1000:,.1f}k | {sandbox / 1000:,.1f}k | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
