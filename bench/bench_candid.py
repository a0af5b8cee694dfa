"""By-hand benchmark of the Candid write-offs fake (never run in CI; see bench/README.md).

Starts each server as a subprocess on 127.0.0.1 (uvicorn with uvloop and httptools), drives it
with a small asyncio load generator speaking keep-alive HTTP/1.1, and prints a Markdown table:

1. `GET /api/write-offs/v1/{id}` and `GET /api/write-offs/v1?limit=100` on the sandbox, next to
   a "ceiling": a bare Starlette app on the same server stack returning the same response bytes.
2. The same list page, and a page a few `next_page_token` hops in, at two tenant sizes.

Run: `/tmp/venv/bin/python bench/bench_candid.py [--duration 3] [--connections 8]`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings

HOST = "127.0.0.1"
LIST_PATH = "/api/write-offs/v1"
PAGE_QUERY = "limit=100"
TENANT = "bench"
JSON = "application/json"
SERVE_COMMAND = "_serve"
BY_ID_FILE = "by_id.json"
LIST_FILE = "list.json"
STARTUP_TIMEOUT = 60.0  # seconds for a server to start listening
SEED_TIMEOUT = 600.0  # seconds to seed a tenant (its first request does) and walk its pages
GRACE = 15.0  # seconds a load run may overrun its duration before it is abandoned
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchError(RuntimeError):
    """The benchmark could not run as intended (a server failed, a response was malformed)."""


# ---- HTTP/1.1 over asyncio streams ----


def build_request(
    method: str, path: str, port: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, int]:
    """Status code and body length of a response head; only Content-Length framing is accepted."""
    status_line, *header_lines = head.rstrip(b"\r\n").split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    if status in (204, 304) or 100 <= status < 200:
        return status, 0
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value.strip())
    raise BenchError(f"response {status} has no Content-Length (chunked bodies are not supported)")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read exactly one response off a keep-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = parse_head(head)
    return status, await reader.readexactly(length)


async def fetch(port: int, request: bytes) -> bytes:
    """One request on a fresh connection; the body of a 200, else a `BenchError`."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        status, body = await read_response(reader)
    finally:
        writer.close()
    if status != 200:
        raise BenchError(f"expected 200, got {status}: {body[:300]!r}")
    return body


# ---- load generation ----


@dataclass
class Budget:
    """Requests still allowed in one run, shared by its connections (one event loop, no lock)."""

    remaining: int

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass(frozen=True)
class Load:
    """What one run sends and for how long, at most."""

    port: int
    request: bytes
    duration: float
    connections: int
    max_requests: int


@dataclass(frozen=True)
class Sample:
    """What one run measured."""

    latencies: list[float]  # seconds, sorted
    errors: int
    elapsed: float
    client_cpu: float  # seconds of this process's CPU


async def _connection(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    load: Load,
    deadline: float,
    budget: Budget,
    latencies: list[float],
) -> int:
    """Send requests one after another on one connection until time or budget runs out."""
    reader, writer = streams
    errors = 0
    while time.perf_counter() < deadline and budget.take():
        start = time.perf_counter()
        writer.write(load.request)
        status, _ = await read_response(reader)
        latencies.append(time.perf_counter() - start)
        errors += status != 200
    return errors


async def run_load(load: Load) -> Sample:
    """Keep `load.connections` connections busy for `load.duration` s or `max_requests`."""
    streams = [await asyncio.open_connection(HOST, load.port) for _ in range(load.connections)]
    latencies: list[float] = []
    budget = Budget(load.max_requests)
    try:
        cpu, start = time.process_time(), time.perf_counter()
        deadline = start + load.duration
        async with asyncio.timeout(load.duration + GRACE):
            errors = await asyncio.gather(
                *(_connection(s, load, deadline, budget, latencies) for s in streams)
            )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    except TimeoutError as error:
        raise BenchError(f"a load run overran its {load.duration} s by {GRACE} s") from error
    finally:
        for _, writer in streams:
            writer.close()
    return Sample(sorted(latencies), sum(errors), elapsed, cpu)


# ---- servers ----


def free_port() -> int:
    """A port that was free on the loopback interface a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class Server:
    """A running server subprocess."""

    name: str
    port: int
    pid: int


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server exited with status {process.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"server did not listen on {HOST}:{port} within {STARTUP_TIMEOUT} s")


@contextmanager
def running(name: str, kind: str, arg: str) -> Iterator[Server]:
    """Start `bench_candid.py _serve KIND ARG PORT` and stop it afterwards, whatever happens."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), SERVE_COMMAND, kind, arg, str(port)]
    process = subprocess.Popen(command)
    try:
        _wait_until_listening(process, port)
        yield Server(name, port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ceiling_app(by_id: bytes, page: bytes) -> Starlette:
    """A bare Starlette app answering the sandbox's paths with fixed bytes: the ceiling."""

    async def one(request: Request) -> Response:
        return Response(by_id, media_type=JSON)

    async def many(request: Request) -> Response:
        return Response(page, media_type=JSON)

    return Starlette(routes=[Route(LIST_PATH, many), Route(LIST_PATH + "/{write_off_id}", one)])


def serve(argv: Sequence[str]) -> None:
    """Server side: `_serve sandbox RECORDS PORT` or `_serve ceiling BODIES_DIR PORT`."""
    kind, arg, port = argv
    if kind == "sandbox":
        app = create_app(Settings(host=HOST, port=int(port), records=int(arg), seed=0))
    else:
        bodies = Path(arg)
        app = ceiling_app((bodies / BY_ID_FILE).read_bytes(), (bodies / LIST_FILE).read_bytes())
    uvicorn.run(
        app, host=HOST, port=int(port), log_level="warning", loop="uvloop", http="httptools"
    )


# ---- scenarios ----


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    connections: int
    max_requests: int
    small: int
    large: int
    deep: int


@dataclass(frozen=True)
class Result:
    """One scenario's numbers."""

    scenario: str
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float | None  # server CPU per request
    server_load: float | None  # server CPU / wall time
    client_load: float  # client CPU / wall time


@dataclass(frozen=True)
class Targets:
    """Request paths (and first responses) of one seeded sandbox tenant."""

    token: str
    by_id: str
    first_page: str
    deep_page: str
    by_id_body: bytes
    page_body: bytes


Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def page_path(token: str | None = None) -> str:
    query = PAGE_QUERY if token is None else f"{PAGE_QUERY}&page_token={quote(token, safe='')}"
    return f"{LIST_PATH}?{query}"


async def login(port: int) -> str:
    """A bearer token for the benchmark tenant."""
    body = orjson.dumps({"client_id": TENANT, "client_secret": "x"})
    request = build_request("POST", "/api/auth/v2/token", port, {"Content-Type": JSON}, body)
    token: str = orjson.loads(await fetch(port, request))["access_token"]
    return token


async def discover(port: int, deep: int) -> Targets:
    """Seed the tenant (its first store call does), then find a write-off id and a deep page."""
    async with asyncio.timeout(SEED_TIMEOUT):
        token = await login(port)
        auth = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        first = await fetch(port, build_request("GET", page_path(), port, auth))
        progress(f"  tenant seeded, first page served in {time.perf_counter() - started:.1f} s")
        page = orjson.loads(first)
        by_id = f"{LIST_PATH}/{page['items'][0]['write_off_id']}"
        deep_page = page_path()
        for hop in range(deep):
            if "next_page_token" not in page:
                raise BenchError(f"the tenant has only {hop + 1} pages; lower --deep")
            deep_page = page_path(page["next_page_token"])
            page = orjson.loads(await fetch(port, build_request("GET", deep_page, port, auth)))
        by_id_body = await fetch(port, build_request("GET", by_id, port, auth))
    return Targets(token, by_id, page_path(), deep_page, by_id_body, first)


def measure(
    run: Runner, server: Server, scenario: str, path: str, token: str, opts: Options
) -> Result:
    """Warm up, then one timed run of GET `path` against `server`."""
    request = build_request("GET", path, server.port, {"Authorization": f"Bearer {token}"})
    load = Load(server.port, request, opts.duration, opts.connections, opts.max_requests)
    progress(f"  {scenario}: warm-up {opts.warmup:g} s, then {opts.duration:g} s")
    run(run_load(Load(server.port, request, opts.warmup, opts.connections, opts.max_requests)))
    cpu_before = cpu_seconds(server.pid)
    sample = run(run_load(load))
    cpu_after = cpu_seconds(server.pid)
    server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    count = len(sample.latencies)
    return Result(
        scenario=scenario,
        server=server.name,
        rps=count / sample.elapsed,
        p50_ms=percentile(sample.latencies, 0.50) * 1000,
        p99_ms=percentile(sample.latencies, 0.99) * 1000,
        errors=sample.errors,
        server_cpu_us=None if server_cpu is None or not count else server_cpu / count * 1e6,
        server_load=None if server_cpu is None else server_cpu / sample.elapsed,
        client_load=sample.client_cpu / sample.elapsed,
    )


@dataclass(frozen=True)
class Results:
    """Every scenario of one benchmark run."""

    small: int
    large: int
    by_id_ceiling: Result
    by_id: Result
    page_ceiling: Result
    page_small: Result
    page_large: Result
    deep_small: Result
    deep_large: Result

    def rows(self) -> list[tuple[Result, Result | None, str]]:
        """Table rows: each result, the result it is compared with, and that one's short name."""
        small = f"{self.small:,}"
        return [
            (self.by_id_ceiling, None, ""),
            (self.by_id, self.by_id_ceiling, "ceiling"),
            (self.page_ceiling, None, ""),
            (self.page_small, self.page_ceiling, "ceiling"),
            (self.page_large, self.page_small, small),
            (self.deep_small, self.page_small, "page 1"),
            (self.deep_large, self.deep_small, small),
        ]


def ratio(result: Result, baseline: Result) -> float:
    return result.rps / baseline.rps if baseline.rps else math.nan


def run_all(run: Runner, opts: Options) -> Results:
    """Every scenario, one server at a time so that an idle server never competes for CPU."""
    small, large = f"sandbox, {opts.small:,} records", f"sandbox, {opts.large:,} records"
    deep = f"list 100, page {opts.deep + 1}"
    progress(f"{small}")
    with running(small, "sandbox", str(opts.small)) as server:
        targets = run(discover(server.port, opts.deep))
        by_id = measure(run, server, "by id", targets.by_id, targets.token, opts)
        page = measure(run, server, "list 100", targets.first_page, targets.token, opts)
        deep_small = measure(run, server, deep, targets.deep_page, targets.token, opts)
    ceiling = "ceiling: bare Starlette, same bytes"
    progress(ceiling)
    with tempfile.TemporaryDirectory(prefix="bench-candid-") as bodies:
        (Path(bodies) / BY_ID_FILE).write_bytes(targets.by_id_body)
        (Path(bodies) / LIST_FILE).write_bytes(targets.page_body)
        with running(ceiling, "ceiling", bodies) as server:
            by_id_top = measure(run, server, "by id", targets.by_id, targets.token, opts)
            page_top = measure(run, server, "list 100", targets.first_page, targets.token, opts)
    progress(f"{large}")
    with running(large, "sandbox", str(opts.large)) as server:
        big = run(discover(server.port, opts.deep))
        page_big = measure(run, server, "list 100", big.first_page, big.token, opts)
        deep_big = measure(run, server, deep, big.deep_page, big.token, opts)
    return Results(
        opts.small, opts.large, by_id_top, by_id, page_top, page, page_big, deep_small, deep_big
    )


# ---- report ----


def _optional(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def table(results: Results) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | server | req/s | p50 ms | p99 ms | ratio (req/s) "
        "| server CPU µs/req | server CPU | client CPU |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r, baseline, name in results.rows():
        versus = "baseline" if baseline is None else f"{ratio(r, baseline):.2f}x {name}"
        lines.append(
            f"| {r.scenario} | {r.server} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {versus} | {_optional(r.server_cpu_us, '{:,.0f}')} "
            f"| {_optional(r.server_load, '{:.0%}')} | {r.client_load:.0%} |"
        )
    return "\n".join(lines)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def by_id_goal(results: Results) -> str:
    share = ratio(results.by_id, results.by_id_ceiling)
    return f"by-id throughput: {share:.0%} of ceiling (goal ≥ 50%) — {verdict(share >= 0.5)}"


def size_goal(results: Results, large: Result, small: Result) -> str:
    """A page at the large size costs the same as at the small size, within 20%."""
    cost = small.rps / large.rps if large.rps else math.inf
    p50 = large.p50_ms / small.p50_ms if small.p50_ms else math.inf
    return (
        f"{large.scenario} at {results.large:,} vs {results.small:,} records: "
        f"cost {cost:.2f}x by req/s, p50 {p50:.2f}x (goal: same within 20%) "
        f"— {verdict(abs(cost - 1) <= 0.2)}"
    )


def report(results: Results) -> str:
    """Table, goal checks, and a warning if any response was not a 200."""
    page_share = ratio(results.page_small, results.page_ceiling)
    lines = [
        table(results),
        "",
        by_id_goal(results),
        f"list 100 throughput: {page_share:.0%} of ceiling (no goal)",
        size_goal(results, results.page_large, results.page_small),
        size_goal(results, results.deep_large, results.deep_small),
    ]
    errors = sum(r.errors for r, _, _ in results.rows())
    if errors:
        lines.append(f"WARNING: {errors} responses were not 200; the numbers above are suspect")
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- command line ----


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="request cap per scenario"
    )
    parser.add_argument("--small", type=int, default=10_000, help="records in the small tenant")
    parser.add_argument("--large", type=int, default=100_000, help="records in the large tenant")
    parser.add_argument("--deep", type=int, default=10, help="next_page_token hops to a deep page")
    args = parser.parse_args(argv)
    return Options(
        args.duration,
        args.warmup,
        args.connections,
        args.max_requests,
        args.small,
        args.large,
        args.deep,
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop for the client too, so the load generator spends less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [SERVE_COMMAND]:
        serve(argv[1:])
        return 0
    opts = parse_options(argv)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        results = run_all(runner.run, opts)
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
