"""By-hand benchmark of the Candid write-offs fake (never run in CI; see bench/README.md).

Starts each server as a subprocess on 127.0.0.1 (uvicorn with uvloop and httptools), drives it
with a small asyncio load generator speaking keep-alive HTTP/1.1, and prints a Markdown table:

1. `GET /api/write-offs/v1/{id}` and `GET /api/write-offs/v1?limit=100` on the sandbox, next to
   a "ceiling": a bare Starlette app on the same server stack returning the same response bytes.
2. The same list page, and a page a few `next_page_token` hops in, at two tenant sizes.

Run from the checkout with the project's virtualenv: `python bench/bench_candid.py --help`.
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
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
CEILING = "ceiling: bare Starlette, same bytes"
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
        """Use up one request; False once none are left."""
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

    latencies: list[float]  # seconds, in the order the responses came
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
        # One request in flight per connection: the write buffer stays tiny, no drain needed.
        writer.write(load.request)
        status, _ = await read_response(reader)
        latencies.append(time.perf_counter() - start)
        errors += status != 200
    return errors


async def run_load(load: Load) -> Sample:
    """Keep `load.connections` connections busy for `load.duration` s or `max_requests`."""
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    budget = Budget(load.max_requests)
    try:
        for _ in range(load.connections):
            streams.append(await asyncio.open_connection(HOST, load.port))
        cpu, start = time.process_time(), time.perf_counter()
        deadline = start + load.duration
        async with asyncio.timeout(load.duration + GRACE):
            errors = await asyncio.gather(
                *(_connection(s, load, deadline, budget, latencies) for s in streams)
            )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    except TimeoutError as error:
        raise BenchError(f"a load run overran its {load.duration} s by {GRACE} s") from error
    except (OSError, EOFError) as error:
        raise BenchError(f"a connection failed during a load run: {error!r}") from error
    finally:
        for _, writer in streams:
            writer.close()
    return Sample(latencies, sum(errors), elapsed, cpu)


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
    """Return once `port` accepts connections; fail if the server dies or takes too long."""
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


def split_cpus() -> tuple[set[int], set[int]] | None:
    """CPUs for the client and for the server: disjoint halves, or None if they cannot be."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


@contextmanager
def running(name: str, kind: str, arg: str, cpus: set[int] | None) -> Iterator[Server]:
    """Start `bench_candid.py _serve KIND ARG PORT` and stop it afterwards, whatever happens."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), SERVE_COMMAND, kind, arg, str(port)]
    process = subprocess.Popen(command)
    try:
        if cpus is not None:
            os.sched_setaffinity(process.pid, cpus)
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
        """Any write-off id: the one write-off the sandbox returned."""
        return Response(by_id, media_type=JSON)

    async def many(request: Request) -> Response:
        """Any list query: the first page the sandbox returned."""
        return Response(page, media_type=JSON)

    return Starlette(routes=[Route(LIST_PATH, many), Route(LIST_PATH + "/{write_off_id}", one)])


def serve(argv: Sequence[str]) -> None:
    """Server side: `_serve sandbox RECORDS PORT` or `_serve ceiling BODIES_DIR PORT`."""
    kind, arg, port = argv
    if kind == "sandbox":
        app = create_app(Settings(host=HOST, port=int(port), records=int(arg), seed=0))
    elif kind == "ceiling":
        bodies = Path(arg)
        app = ceiling_app((bodies / BY_ID_FILE).read_bytes(), (bodies / LIST_FILE).read_bytes())
    else:
        raise BenchError(f"unknown server kind {kind!r}")
    uvicorn.run(
        app, host=HOST, port=int(port), log_level="warning", loop="uvloop", http="httptools"
    )


# ---- scenarios ----


@dataclass(frozen=True)
class Options:
    """The command line."""

    duration: float
    warmup: float
    connections: int
    max_requests: int
    small: int
    large: int
    deep: int
    rounds: int
    pin: bool


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


# Runs a coroutine to completion on the benchmark's one event loop (`asyncio.Runner.run`).
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def page_path(token: str | None = None) -> str:
    """The list path for a 100-item page, at `token` if given."""
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


@dataclass(frozen=True)
class Scenario:
    """GET `path` on `server`, as the benchmark tenant."""

    name: str
    server: Server
    path: str
    token: str

    def request(self) -> bytes:
        """The request bytes, sent unchanged on every iteration."""
        auth = {"Authorization": f"Bearer {self.token}"}
        return build_request("GET", self.path, self.server.port, auth)


@dataclass
class Tally:
    """One scenario's samples, summed over rounds."""

    latencies: list[float]
    errors: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float | None = 0.0

    def add(self, sample: Sample, server_cpu: float | None) -> None:
        """Add one round (server CPU is None when it could not be read)."""
        self.latencies += sample.latencies
        self.errors += sample.errors
        self.elapsed += sample.elapsed
        self.client_cpu += sample.client_cpu
        if server_cpu is None or self.server_cpu is None:
            self.server_cpu = None
        else:
            self.server_cpu += server_cpu

    def result(self, scenario: Scenario) -> Result:
        """The numbers over all rounds: totals divided by total time."""
        latencies, count, cpu = sorted(self.latencies), len(self.latencies), self.server_cpu
        elapsed = self.elapsed or math.nan
        return Result(
            scenario=scenario.name,
            server=scenario.server.name,
            rps=count / elapsed,
            p50_ms=percentile(latencies, 0.50) * 1000,
            p99_ms=percentile(latencies, 0.99) * 1000,
            errors=self.errors,
            server_cpu_us=None if cpu is None or not count else cpu / count * 1e6,
            server_load=None if cpu is None else cpu / elapsed,
            client_load=self.client_cpu / elapsed,
        )


def _timed(
    run: Runner, scenario: Scenario, seconds: float, opts: Options
) -> tuple[Sample, float | None]:
    """One load run, and the server CPU seconds it cost."""
    port, request = scenario.server.port, scenario.request()
    load = Load(port, request, seconds, opts.connections, opts.max_requests)
    before = cpu_seconds(scenario.server.pid)
    sample: Sample = run(run_load(load))
    after = cpu_seconds(scenario.server.pid)
    return sample, None if before is None or after is None else after - before


def measure(run: Runner, scenarios: list[Scenario], opts: Options) -> list[Result]:
    """Warm each scenario up, then run them in turn for `opts.rounds` rounds.

    Interleaving the scenarios that are compared with one another spreads any drift of the
    machine (another process, a CPU slowing down) over all of them instead of over one.
    """
    for scenario in scenarios:
        progress(f"  warm-up {opts.warmup:g} s: {scenario.name} ({scenario.server.name})")
        _timed(run, scenario, opts.warmup, opts)
    tallies = [Tally([]) for _ in scenarios]
    seconds = opts.duration / opts.rounds
    for round_number in range(opts.rounds):
        progress(f"  round {round_number + 1}/{opts.rounds}: {len(scenarios)} x {seconds:g} s")
        for scenario, tally in zip(scenarios, tallies, strict=True):
            tally.add(*_timed(run, scenario, seconds, opts))
    return [tally.result(scenario) for scenario, tally in zip(scenarios, tallies, strict=True)]


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
    """Wall-clock throughput relative to the baseline (higher is faster)."""
    return result.rps / baseline.rps if baseline.rps else math.nan


def run_all(run: Runner, opts: Options, cpus: set[int] | None) -> Results:
    """Start the three servers (on `cpus`), then measure together the scenarios that are
    compared with each other. Only one server is under load at a time; the others idle."""
    small_name = f"sandbox, {opts.small:,} records"
    large_name = f"sandbox, {opts.large:,} records"
    deep = f"list 100, page {opts.deep + 1}"
    with ExitStack() as stack:
        progress(f"starting {small_name}")
        small = stack.enter_context(running(small_name, "sandbox", str(opts.small), cpus))
        at_small = run(discover(small.port, opts.deep))
        bodies = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-candid-")))
        (bodies / BY_ID_FILE).write_bytes(at_small.by_id_body)
        (bodies / LIST_FILE).write_bytes(at_small.page_body)
        progress("starting the ceiling")
        ceiling = stack.enter_context(running(CEILING, "ceiling", str(bodies), cpus))
        progress(f"starting {large_name}")
        large = stack.enter_context(running(large_name, "sandbox", str(opts.large), cpus))
        at_large = run(discover(large.port, opts.deep))

        progress("by id: ceiling and sandbox")
        by_id_scenarios = [
            Scenario("by id", ceiling, at_small.by_id, at_small.token),
            Scenario("by id", small, at_small.by_id, at_small.token),
        ]
        by_id_top, by_id = measure(run, by_id_scenarios, opts)

        progress("list 100: ceiling and both tenant sizes")
        page_scenarios = [
            Scenario("list 100", ceiling, at_small.first_page, at_small.token),
            Scenario("list 100", small, at_small.first_page, at_small.token),
            Scenario("list 100", large, at_large.first_page, at_large.token),
        ]
        page_top, page_small, page_large = measure(run, page_scenarios, opts)

        progress(f"{deep}: both tenant sizes")
        deep_scenarios = [
            Scenario(deep, small, at_small.deep_page, at_small.token),
            Scenario(deep, large, at_large.deep_page, at_large.token),
        ]
        deep_small, deep_large = measure(run, deep_scenarios, opts)
    return Results(
        opts.small,
        opts.large,
        by_id_top,
        by_id,
        page_top,
        page_small,
        page_large,
        deep_small,
        deep_large,
    )


# ---- report ----


SATURATED = 0.9  # a server busier than this was the bottleneck of its run
BY_ID_GOAL = 0.5  # by-id throughput, as a share of the ceiling's
SIZE_TOLERANCE = 0.2  # a page may cost this much more (or less) at the large size


def _optional(value: float | None, pattern: str) -> str:
    """`value` formatted, or n/a when it could not be measured."""
    return "n/a" if value is None else pattern.format(value)


def capacity_ratio(result: Result, baseline: Result) -> float | None:
    """Throughput per server CPU-second relative to the baseline (higher is faster)."""
    if result.server_cpu_us is None or baseline.server_cpu_us is None:
        return None
    return baseline.server_cpu_us / result.server_cpu_us if result.server_cpu_us else math.nan


def _versus(value: float | None, name: str) -> str:
    """A ratio cell such as `0.39x ceiling`."""
    return "n/a" if value is None else f"{value:.2f}x {name}"


def _row(r: Result, baseline: Result | None, name: str) -> str:
    """One table row; req/s carries a `*` when the server was not the bottleneck."""
    mark = "" if r.server_load is None or r.server_load >= SATURATED else "*"
    by_rps = "baseline" if baseline is None else _versus(ratio(r, baseline), name)
    by_cpu = "baseline" if baseline is None else _versus(capacity_ratio(r, baseline), name)
    return (
        f"| {r.scenario} | {r.server} | {r.rps:,.0f}{mark} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
        f"| {by_rps} | {_optional(r.server_cpu_us, '{:,.0f}')} | {by_cpu} "
        f"| {_optional(r.server_load, '{:.0%}')} | {r.client_load:.0%} |"
    )


def table(results: Results) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | server | req/s | p50 ms | p99 ms | ratio (req/s) | server CPU µs/req "
        "| ratio (req per server CPU-s) | server busy | client busy |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---:|",
    ]
    lines += [_row(*row) for row in results.rows()]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    """The last word of a goal line."""
    return "met" if met else "NOT met"


def share_of_ceiling(what: str, result: Result, ceiling: Result, goal: float | None) -> str:
    """`what` throughput as a share of the ceiling's; judged per server CPU-second when known."""
    by_rps = ratio(result, ceiling)
    by_cpu = capacity_ratio(result, ceiling)
    share = f"{by_rps:.0%} of ceiling"
    if by_cpu is not None:
        share = f"{by_cpu:.0%} of ceiling per server CPU-second, {by_rps:.0%} by wall-clock req/s"
    if goal is None:
        return f"{what} throughput: {share} (no goal)"
    met = (by_rps if by_cpu is None else by_cpu) >= goal
    return f"{what} throughput: {share} (goal ≥ {goal:.0%}) — {verdict(met)}"


def size_goal(results: Results, large: Result, small: Result) -> str:
    """A page at the large size costs what it costs at the small size, within the tolerance."""
    by_rps = small.rps / large.rps if large.rps else math.inf
    by_cpu = capacity_ratio(small, large)
    p50 = large.p50_ms / small.p50_ms if small.p50_ms else math.inf
    measured = f"{by_rps:.2f}x by req/s, p50 {p50:.2f}x"
    if by_cpu is not None:
        measured = f"{by_cpu:.2f}x server CPU per request ({measured})"
    cost = by_rps if by_cpu is None else by_cpu
    return (
        f"{large.scenario} at {results.large:,} vs {results.small:,} records: cost {measured} "
        f"(goal: same within {SIZE_TOLERANCE:.0%}) — {verdict(abs(cost - 1) <= SIZE_TOLERANCE)}"
    )


def report(results: Results) -> str:
    """Table, goal checks, and warnings about runs that cannot be trusted."""
    rows = results.rows()
    lines = [
        table(results),
        "",
        share_of_ceiling("by-id", results.by_id, results.by_id_ceiling, BY_ID_GOAL),
        share_of_ceiling("list 100", results.page_small, results.page_ceiling, None),
        size_goal(results, results.page_large, results.page_small),
        size_goal(results, results.deep_large, results.deep_small),
    ]
    if any(r.server_load is not None and r.server_load < SATURATED for r, _, _ in rows):
        lines.append(
            f"* the server was busy less than {SATURATED:.0%} of that run, so its req/s "
            "measures the client and the machine as much as the server; trust the CPU columns"
        )
    errors = sum(r.errors for r, _, _ in rows)
    if errors:
        lines.append(f"WARNING: {errors} responses were not 200; the numbers above are suspect")
    return "\n".join(lines)


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout is only the table and the goal lines."""
    print(message, file=sys.stderr, flush=True)


# ---- command line ----


Number = TypeVar("Number", int, float)


def _positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """An argparse type that accepts only values above zero."""

    def parse(text: str) -> Number:
        """`kind(text)`, refused unless above zero."""
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
        return value

    return parse


def parse_options(argv: Sequence[str] | None) -> Options:
    """The command line; every flag has a default that reproduces the README's table."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    seconds, count = _positive(float), _positive(int)
    parser.add_argument("--duration", type=seconds, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=seconds, default=1.0, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=count, default=8, help="concurrent connections")
    parser.add_argument("--max-requests", type=count, default=1_000_000, help="cap per scenario")
    parser.add_argument("--small", type=count, default=10_000, help="records, small tenant")
    parser.add_argument("--large", type=count, default=100_000, help="records, large tenant")
    parser.add_argument(
        "--deep", type=count, default=10, help="next_page_token hops to the deep page"
    )
    parser.add_argument("--rounds", type=count, default=3, help="interleaved rounds per scenario")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin client and servers to disjoint CPUs"
    )
    args = parser.parse_args(argv)
    return Options(
        args.duration,
        args.warmup,
        args.connections,
        args.max_requests,
        args.small,
        args.large,
        args.deep,
        args.rounds,
        not args.no_pin,
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop for the client too, so the load generator spends less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, as `_serve ...`, one of its servers); the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [SERVE_COMMAND]:
        serve(argv[1:])
        return 0
    opts = parse_options(argv)
    split = split_cpus() if opts.pin else None
    if split is not None:
        os.sched_setaffinity(0, split[0])
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            results = run_all(runner.run, opts, None if split is None else split[1])
    except (BenchError, OSError, EOFError) as error:
        print(f"bench_candid: {error!r}", file=sys.stderr)
        return 1
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
