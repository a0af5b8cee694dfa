"""By-hand benchmark of all three APIs against the ceiling (never run in CI; bench/README.md).

Starts `billing-sandbox serve` as a user starts it (defaults: response validation and the
journal on, one log line per request, its output to a file here), the same with `--quiet`, and
a ceiling: a bare Starlette app on the same uvicorn answering each path with the very bytes the
sandbox answered (reading a write's body first). With `--granian`, also `serve --server
granian` and the ceiling on granian, on the servers' cores or, with `--granian-cores all`,
on every core as on a user's machine, where granian's Rust threads work beside the Python one
(the uvicorn servers stay on theirs: unpinned, uvicorn only lost here). With
`--metrics-cost`, also `serve --no-metrics`, to report what the metrics cost. With `npm` on
the PATH, also Prism 5 (`prism mock -m`) on our own specs, installed into a temporary
directory. The load is `wrk` (Debian's package), 16 keep-alive connections, pinned to the
other core than the servers. Each scenario runs on every
server in interleaved rounds, their order turning; the table gives the median requests per
second, each ratio as the median of its rounds with their spread, and server CPU per request.

Run from the checkout: `.venv/bin/python bench/bench_apis.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import orjson
from loadgen import BenchError, build_request, read_response
from servers import _wait_until_listening, cpu_seconds, free_port, split_cpus
from wrkload import lua_script, run_wrk, wrk_binary

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "openapi"
JSON = "application/json"
TENANT = "bench"
WRITES_TENANT = "bench-writes"
PRISM = "@stoplight/prism-cli@5"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Scenario:
    """One request, sent unchanged (`write`: it changes the tenant on every call)."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    write: bool = False
    expected: int = 200
    prism_spec: str | None = None  # our spec Prism serves it from, if it can

    def request(self, port: int) -> bytes:
        return build_request(self.method, self.path, port, self.headers, self.body)


@dataclass
class Tally:
    rps: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    errors: int = 0


async def _call(port: int, request: bytes) -> object:
    """One request on a fresh connection: its JSON answer, or a `BenchError` for a non-2xx."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        status, body = await read_response(reader)
    finally:
        writer.close()
    if status >= 300:
        raise BenchError(f"expected a 2xx, got {status}: {body[:300]!r}")
    return orjson.loads(body)


async def _get(port: int, path: str, headers: dict[str, str] | None = None) -> object:
    return await _call(port, build_request("GET", path, port, headers or {}))


async def _post_json(port: int, path: str, body: object, headers: dict[str, str]) -> object:
    request = build_request(
        "POST", path, port, {"Content-Type": JSON, **headers}, orjson.dumps(body)
    )
    return await _call(port, request)


async def credentials(port: int, tenant: str) -> tuple[dict[str, str], ...]:
    """Headers for the tenant in each API: Candid's, Decoda's and MYCURE's."""
    token: Any = await _post_json(
        port, "/api/auth/v2/token", {"client_id": tenant, "client_secret": "x"}, {}
    )
    signed: Any = await _post_json(
        port,
        "/authentication",
        {"strategy": "local", "email": f"ana@{tenant}.test", "password": "x"},
        {},
    )
    return (
        {"Authorization": f"Bearer {token['access_token']}"},
        {"TENANT": tenant, "API-KEY": "bench"},
        {"Authorization": f"Bearer {signed['accessToken']}"},
    )


async def discover(port: int) -> list[Scenario]:
    """Sign in to each API and find the records the scenarios read. Reads go to a tenant as
    seeded; writes to another, so the records they add never weigh on the reads."""
    candid, decoda, mycure = await credentials(port, TENANT)
    page: Any = await _get(port, "/api/write-offs/v1?limit=100", candid)
    write_off = page["items"][0]["write_off_id"]
    charges: Any = await _get(port, "/billing/charge/list", decoda)
    charge = charges[0]["id"]
    found: Any = await _get(port, "/billing-soas?$limit=1", mycure)
    soa = found[0]["id"]
    candid_w, decoda_w, mycure_w = await credentials(port, WRITES_TENANT)
    owed_charges: Any = await _get(port, "/billing/charge/list", decoda_w)
    owed = next(c for c in owed_charges if c["totalOutstanding"] > 10_000)
    reference: Any = await _get(port, f"/_sandbox/tenants/{WRITES_TENANT}.test/reference/mycure")
    facility = reference["facilities"][0]["id"]
    customer = reference["customers"]["organizations"][0]["id"]
    candid_write = {
        "write_offs": [
            {
                "type": "patient",
                "write_off_timestamp": "2024-01-15T09:30:00Z",
                "write_off_reason": "SMALL_BALANCE",
                "service_line_id": "5e1f0000-0000-4000-8000-000000000001",
                "amount_cents": 1,
            }
        ]
    }
    cash = [{"id": owed["id"], "patientId": owed["patientId"], "totalOutstanding": 0}]
    statement = {"facility": facility, "type": "organization", "customer": customer}
    with_json = {"Content-Type": JSON}
    return [
        Scenario("Candid write-off by id", "GET", f"/api/write-offs/v1/{write_off}", candid,
                 prism_spec="candid-write-offs"),
        Scenario("Candid 100-item page", "GET", "/api/write-offs/v1?limit=100", candid,
                 prism_spec="candid-write-offs"),
        Scenario("Decoda charge by id", "GET", f"/billing/charge/get/{charge}", decoda,
                 prism_spec="decoda-billing"),
        Scenario(f"Decoda charge list ({len(charges)})", "GET", "/billing/charge/list", decoda,
                 prism_spec="decoda-billing"),
        Scenario("Decoda charge timeline", "GET", f"/billing/charge/timeline?charge_id={charge}",
                 decoda, prism_spec="decoda-billing"),
        Scenario("MYCURE statement by id", "GET", f"/billing-soas/{soa}", mycure,
                 prism_spec="mycure-billing-soas"),
        Scenario("MYCURE find, filtered, sorted, 100", "GET",
                 "/billing-soas?type=organization&%24sort%5BcreatedAt%5D=-1&%24limit=100", mycure,
                 prism_spec="mycure-billing-soas"),
        Scenario("Candid create (write)", "POST", "/api/write-offs/v1",
                 {**candid_w, **with_json}, orjson.dumps(candid_write), write=True),
        Scenario("Decoda cash payment (write)", "POST",
                 "/billing/payment-terminal/charge/create-cash-settled?payment_medium=CASH&amount=1",
                 {**decoda_w, **with_json}, orjson.dumps(cash), write=True),
        Scenario("MYCURE create (write)", "POST", "/billing-soas", {**mycure_w, **with_json},
                 orjson.dumps(statement), write=True, expected=201),
    ]  # fmt: skip


@contextmanager
def process(
    command: list[str], port: int, cpus: set[int] | None, **kwargs: object
) -> Iterator[int]:
    """Run a server command until the block ends; its pid."""
    child = subprocess.Popen(command, **kwargs)  # type: ignore[call-overload]
    try:
        if cpus is not None:
            os.sched_setaffinity(child.pid, cpus)
        _wait_until_listening(child, port)
        yield child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def ceiling_script(bodies: Path) -> str:
    """A bare Starlette app answering each benchmarked path with the sandbox's bytes; a write's
    body is read first, as the sandbox must. `python ceiling.py uvicorn|granian PORT`."""
    return f"""
import json, sys
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
answers = json.loads(Path({str(bodies)!r}).read_text())
def route(path, by_method):
    kept = {{m: (bytes.fromhex(b), s) for m, (b, s) in by_method.items()}}
    async def answer(request):
        if request.method == "POST":
            await request.body()
        data, status = kept[request.method]
        return Response(data, status_code=status, media_type="application/json")
    return Route(path, answer, methods=list(kept))
app = Starlette(routes=[route(p, m) for p, m in answers.items()])
server, port = sys.argv[1], int(sys.argv[2])
if server == "granian":  # embedded on uvloop, as `serve --server granian` runs
    from granian.server.embed import Server
    from granian.constants import Interfaces
    import uvloop
    uvloop.run(Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGINL,
                      log_enabled=False).serve())
else:
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop",
                http="httptools")
"""


async def answers_of(port: int, scenarios: list[Scenario]) -> dict[str, dict[str, tuple[str, int]]]:
    """Each scenario's answer on the sandbox (bytes as hex, status), by path and method."""
    found: dict[str, dict[str, tuple[str, int]]] = {}
    for scenario in scenarios:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(scenario.request(port))
        status, body = await read_response(reader)
        writer.close()
        if status >= 300:
            raise BenchError(f"{scenario.name}: the sandbox answered {status}: {body[:200]!r}")
        path = scenario.path.split("?")[0]
        found.setdefault(path, {})[scenario.method] = (body.hex(), status)
    return found


async def reset_writes(port: int) -> None:
    """Writes start each run from the seeded tenant, so no run weighs on the next."""
    for tenant in (WRITES_TENANT, f"{WRITES_TENANT}.test"):
        await _call(port, build_request("POST", f"/_sandbox/tenants/{tenant}/reset", port, {}))


@dataclass(frozen=True)
class Server:
    """One server under load: where it listens, its pid, and the scenarios as it is asked."""

    name: str
    port: int
    pid: int
    scenarios: dict[str, Scenario]  # by name; a sandbox's carry its own credentials
    sandbox: bool


def measure_wrk(
    scenario: Scenario,
    server: Server,
    options: argparse.Namespace,
    work: Path,
    client_cpus: set[int] | None,
) -> tuple[float, float, float | None, int]:
    """One wrk run: req/s, p50 seconds, server CPU µs per request, non-2xx answers."""
    ask = server.scenarios[scenario.name]
    script = work / "wrk.lua"
    script.write_text(lua_script(ask.method, ask.path, ask.headers, ask.body))
    if ask.write and server.sandbox:
        asyncio.run(reset_writes(server.port))
    before = cpu_seconds(server.pid)
    run = run_wrk(script, server.port, options.duration, options.connections, client_cpus)
    after = cpu_seconds(server.pid)
    cpu = None
    if before is not None and after is not None and run.requests:
        cpu = (after - before) / run.requests * 1e6
    return run.per_second, run.p50, cpu, run.non_2xx + run.socket_errors


def sandbox_command(port: int, *extra: str) -> list[str]:
    """`billing-sandbox serve` as the README starts it (the installed script)."""
    script = str(Path(sys.executable).with_name("billing-sandbox"))
    return [script, "serve", "--port", str(port), *extra]


def start_sandbox(
    stack: ExitStack, work: Path, name: str, cpus: set[int] | None, *extra: str
) -> tuple[int, int]:
    """A sandbox whose output (banner and request lines) goes to a file, as users redirect it."""
    port = free_port()
    log = (work / f"{name}.log").open("w")
    stack.callback(log.close)
    pid = stack.enter_context(
        process(sandbox_command(port, *extra), port, cpus, stdout=log, stderr=log)
    )
    return port, pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per scenario run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-prism", action="store_true", help="skip Prism even with npm")
    parser.add_argument("--granian", action="store_true",
                        help="also serve the sandbox and the ceiling with granian")  # fmt: skip
    parser.add_argument("--granian-cores", choices=("server", "all"), default="server",
                        help="granian's servers on the servers' cores (default), or on "
                             "every core, as on a user's machine (its Rust threads beside "
                             "Python)")  # fmt: skip
    parser.add_argument("--metrics-cost", action="store_true",
                        help="also serve --no-metrics: what the metrics cost")  # fmt: skip
    parser.add_argument("--only", action="append", default=[], metavar="WORDS",
                        help="only the scenarios whose name has WORDS (repeatable)")  # fmt: skip
    options = parser.parse_args(argv)
    if wrk_binary() is None:
        raise BenchError("wrk is not on the PATH: apt-get install wrk")
    every_cpu = os.sched_getaffinity(0)
    split = split_cpus()
    client_cpus, server_cpus = split if split else (None, None)
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-apis-") as scratch:
        work = Path(scratch)
        sandboxes = {"sandbox": (), "quiet": ("--quiet",)}
        if options.granian:
            sandboxes["granian"] = ("--server", "granian")
        if options.metrics_cost:
            sandboxes["no-metrics"] = ("--no-metrics",)
        servers: list[Server] = []
        reference: list[Scenario] | None = None

        def cores(name: str) -> set[int] | None:
            free = options.granian_cores == "all" and "granian" in name
            return every_cpu if free and server_cpus is not None else server_cpus

        for name, extra in sandboxes.items():
            port, pid = start_sandbox(stack, work, name, cores(name), *extra)
            scenarios = asyncio.run(discover(port))
            if options.only:
                scenarios = [s for s in scenarios if any(w in s.name for w in options.only)]
            if reference is None:
                reference = scenarios
                bodies = work / "answers.json"
                bodies.write_text(orjson.dumps(asyncio.run(answers_of(port, scenarios))).decode())
            elif [s.path for s in scenarios] != [s.path for s in reference]:
                raise BenchError(f"{name} found other records than the first sandbox")
            servers.append(Server(name, port, pid, {s.name: s for s in scenarios}, True))
        assert reference is not None
        by_name = {s.name: s for s in reference}
        script = work / "ceiling.py"
        script.write_text(ceiling_script(bodies))
        ceilings = {"ceiling": [sys.executable, str(script), "uvicorn"]}
        if options.granian:
            ceilings["ceiling-granian"] = [sys.executable, str(script), "granian"]
        for name, command in ceilings.items():
            port = free_port()
            pid = stack.enter_context(process([*command, str(port)], port, cores(name)))
            servers.append(Server(name, port, pid, by_name, False))
        prism = None if options.no_prism else start_prism(stack, work, server_cpus)
        for spec, (port, pid) in (prism or {}).items():
            wanted = {n: s for n, s in by_name.items() if s.prism_spec == spec}
            servers.append(Server(f"prism:{spec}", port, pid, wanted, False))
        tallies: dict[tuple[str, str], Tally] = {}
        for round_number in range(options.rounds):
            print(f"round {round_number + 1} of {options.rounds}", file=sys.stderr, flush=True)
            for scenario in reference:
                # The servers' order turns each round, so drift on the machine is shared out.
                order = [s for s in servers if scenario.name in s.scenarios]
                shift = round_number % len(order)
                for server in order[shift:] + order[:shift]:
                    rps, p50, cpu, errors = measure_wrk(
                        scenario, server, options, work, client_cpus
                    )
                    kind = "prism" if server.name.startswith("prism:") else server.name
                    tally = tallies.setdefault((scenario.name, kind), Tally())
                    tally.rps.append(rps)
                    tally.latencies.append(p50)
                    tally.errors += errors if kind != "prism" else 0
                    if cpu is not None:
                        tally.cpu_us.append(cpu)
        print(table(reference, tallies, prism is not None, options.granian, options.metrics_cost))
    return 0


def start_prism(
    stack: ExitStack, work: Path, cpus: set[int] | None
) -> dict[str, tuple[int, int]] | None:
    """Prism 5 on each of our specs, or None (with a note) when npm is missing or fails."""
    npm = shutil.which("npm")
    if npm is None:
        print("note: npm is not on the PATH, so Prism is skipped", file=sys.stderr)
        return None
    prefix = work / "prism"
    installed = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", PRISM],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    binary = prefix / "node_modules" / ".bin" / "prism"
    if installed.returncode != 0 or not binary.exists():
        print(f"note: installing Prism failed, so it is skipped: {installed.stderr[-300:]}",
              file=sys.stderr)  # fmt: skip
        return None
    found = {}
    for spec in ("candid-write-offs", "decoda-billing", "mycure-billing-soas"):
        port = free_port()
        command = [str(binary), "mock", "-m", "-h", "127.0.0.1", "-p", str(port),
                   str(SPECS / f"{spec}.yaml")]  # fmt: skip
        logged = (work / f"prism-{spec}.log").open("w")
        stack.callback(logged.close)
        try:
            pid = stack.enter_context(process(command, port, cpus, stdout=logged, stderr=logged))
        except BenchError as error:
            print(f"note: Prism did not start on {spec}: {error}", file=sys.stderr)
            continue
        found[spec] = (port, pid)
    return found


def ratios(mine: list[float], theirs: list[float]) -> str:
    """The median of the rounds' ratios, and their spread (each round's pair ran back to back)."""
    each = sorted(a / b for a, b in zip(mine, theirs, strict=False) if b)
    if not each:
        return "n/a"
    low, high = each[0], each[-1]
    return f"**{median(each):.2f}**{TIMES} ({low:.2f} to {high:.2f})"


def costs(mine: list[float], without: list[float]) -> list[float]:
    """What a feature costs in each round: 1 - (req/s with it) / (req/s without it)."""
    return sorted(1 - a / b for a, b in zip(mine, without, strict=False) if b)


def spread(each: list[float]) -> str:
    return f"{median(each):.0%} ({each[0]:.0%} to {each[-1]:.0%})" if each else "n/a"


def table(
    scenarios: list[Scenario],
    tallies: dict[tuple[str, str], Tally],
    prism: bool,
    granian: bool,
    metrics_cost: bool = False,
) -> str:
    """The Markdown table: median req/s, ratios per round with their spread, server CPU."""
    head = ("| request | sandbox req/s | ceiling req/s | **sandbox / ceiling** "
            "| `--quiet` / ceiling | log's cost (1 - sandbox / `--quiet`) | sandbox p50 ms "
            "| sandbox CPU µs/req "
            "| ceiling CPU µs/req |")  # fmt: skip
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if granian:
        head += (" granian sandbox req/s | granian sandbox CPU µs/req (all its threads) "
                 "| granian sandbox / uvicorn ceiling "
                 "| granian ceiling / uvicorn ceiling |")  # fmt: skip
        rule += "---:|---:|---:|---:|"
    if metrics_cost:
        head += " `--no-metrics` / ceiling | metrics' cost (1 - sandbox / `--no-metrics`) |"
        rule += "---:|---:|"
    if prism:
        head += " Prism req/s | sandbox / Prism |"
        rule += "---:|---:|"
    rows = [head, rule]
    for scenario in scenarios:
        ours, quiet = tallies[(scenario.name, "sandbox")], tallies[(scenario.name, "quiet")]
        ceiling = tallies[(scenario.name, "ceiling")]
        cost = costs(ours.rps, quiet.rps)
        errors = ours.errors + quiet.errors
        cells = [
            scenario.name + (f" ({errors} errors)" if errors else ""),
            f"{median(ours.rps):,.0f}",
            f"{median(ceiling.rps):,.0f}",
            ratios(ours.rps, ceiling.rps),
            ratios(quiet.rps, ceiling.rps),
            spread(cost),
            f"{median(ours.latencies) * 1000:.2f}",
            f"{median(ours.cpu_us):.0f}" if ours.cpu_us else "n/a",
            f"{median(ceiling.cpu_us):.0f}" if ceiling.cpu_us else "n/a",
        ]
        if granian:
            fast = tallies[(scenario.name, "granian")]
            fast_top = tallies[(scenario.name, "ceiling-granian")]
            cells += [f"{median(fast.rps):,.0f}",
                      f"{median(fast.cpu_us):.0f}" if fast.cpu_us else "n/a",
                      ratios(fast.rps, ceiling.rps), ratios(fast_top.rps, ceiling.rps)]  # fmt: skip
        if metrics_cost:
            bare = tallies[(scenario.name, "no-metrics")]
            cells += [ratios(bare.rps, ceiling.rps), spread(costs(ours.rps, bare.rps))]
        if prism:
            other = tallies.get((scenario.name, "prism"))
            if other is None:
                cells += ["n/a", "n/a"]
            else:
                cells += [f"{median(other.rps):,.0f}",
                          f"{median(ours.rps) / median(other.rps):.1f}{TIMES}"]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    started = time.perf_counter()
    try:
        code = main()
    except BenchError as error:
        print(f"bench_apis: {error}", file=sys.stderr)
        code = 1
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    sys.exit(code)
