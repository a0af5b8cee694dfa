"""The scenarios: seed the tenants, start the servers, and measure in interleaved rounds."""

from __future__ import annotations

import asyncio
import math
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from loadgen import BenchError, Load, Sample, build_request, fetch, percentile, run_load
from report import Result, Results
from servers import BY_ID_FILE, JSON, LIST_FILE, LIST_PATH, Server, cpu_seconds, running

PAGE_QUERY = "limit=100"
TENANT = "bench"
CEILING = "ceiling: bare Starlette, same bytes"
SEED_TIMEOUT = 600.0  # seconds to seed a tenant (its first request does) and walk its pages


@dataclass(frozen=True)
class Options:
    """The command line, as `bench_candid.py` parses it."""

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


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout is only the table and the goal lines."""
    print(message, file=sys.stderr, flush=True)
