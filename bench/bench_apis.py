"""By-hand benchmark of all three APIs against the ceiling (never run in CI; bench/README.md).

Starts `billing-sandbox serve` as a user starts it (defaults: response validation and the
journal on, one log line per request, to a file here), and a ceiling: a bare Starlette app on
the same uvicorn answering each path with the very bytes the sandbox answered. With `npm` on
the PATH, also Prism 5 (`prism mock -m`) on our own specs, installed into a temporary directory.
Each scenario runs in interleaved rounds on every server; the table gives requests per second
and the sandbox/ceiling ratio.

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
from loadgen import BenchError, Load, build_request, percentile, read_response, run_load
from servers import _wait_until_listening, cpu_seconds, free_port, split_cpus

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
                 "/billing-soas?type=organization&$sort[createdAt]=-1&$limit=100", mycure,
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
    """A bare Starlette app answering each benchmarked path with the sandbox's bytes."""
    return f"""
import json, sys
from pathlib import Path
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
answers = json.loads(Path({str(bodies)!r}).read_text())
def route(path, by_method):
    kept = {{m: (bytes.fromhex(b), s) for m, (b, s) in by_method.items()}}
    async def answer(request):
        data, status = kept[request.method]
        return Response(data, status_code=status, media_type="application/json")
    return Route(path, answer, methods=list(kept))
app = Starlette(routes=[route(p, m) for p, m in answers.items()])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            loop="uvloop", http="httptools")
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


async def measure(
    scenario: Scenario, port: int, pid: int, duration: float, connections: int, cap: int
) -> tuple[float, list[float], float | None, int]:
    before = cpu_seconds(pid)
    load = Load(port, scenario.request(port), duration, connections, cap, scenario.expected)
    sample = await run_load(load)
    after = cpu_seconds(pid)
    count = len(sample.latencies)
    cpu = None if before is None or after is None or not count else (after - before) / count * 1e6
    errors = sample.errors
    return count / sample.elapsed, sample.latencies, cpu, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per scenario run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-writes", type=int, default=2000, help="cap per write run")
    parser.add_argument("--no-prism", action="store_true", help="skip Prism even with npm")
    options = parser.parse_args(argv)
    split = split_cpus()
    client_cpus, server_cpus = split if split else (None, None)
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-apis-") as scratch:
        work = Path(scratch)
        sandbox_port = free_port()
        log = (work / "requests.log").open("w")
        stack.callback(log.close)
        serve = [str(Path(sys.executable).with_name("billing-sandbox")), "serve",
                 "--port", str(sandbox_port)]  # fmt: skip
        sandbox_pid = stack.enter_context(
            process(serve, sandbox_port, server_cpus, stdout=log, stderr=log)
        )
        scenarios = asyncio.run(discover(sandbox_port))
        bodies = work / "answers.json"
        bodies.write_text(orjson.dumps(asyncio.run(answers_of(sandbox_port, scenarios))).decode())
        ceiling_port = free_port()
        script = work / "ceiling.py"
        script.write_text(ceiling_script(bodies))
        ceiling_pid = stack.enter_context(
            process([sys.executable, str(script), str(ceiling_port)], ceiling_port, server_cpus)
        )
        servers = {"sandbox": (sandbox_port, sandbox_pid), "ceiling": (ceiling_port, ceiling_pid)}
        prism = None if options.no_prism else start_prism(stack, work, server_cpus)
        tallies: dict[tuple[str, str], Tally] = {}
        for round_number in range(options.rounds):
            print(f"round {round_number + 1} of {options.rounds}", file=sys.stderr, flush=True)
            for scenario in scenarios:
                targets = dict(servers)
                if prism and scenario.prism_spec in prism:
                    targets["prism"] = prism[scenario.prism_spec]
                for name, (port, pid) in targets.items():
                    cap = options.max_writes if scenario.write else 10_000_000
                    rps, latencies, cpu, errors = asyncio.run(
                        measure(scenario, port, pid, options.duration, options.connections, cap)
                    )
                    tally = tallies.setdefault((scenario.name, name), Tally())
                    tally.rps.append(rps)
                    tally.latencies += latencies
                    tally.errors += errors if name != "prism" else 0
                    if cpu is not None:
                        tally.cpu_us.append(cpu)
        print(table(scenarios, tallies, prism is not None))
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


def table(scenarios: list[Scenario], tallies: dict[tuple[str, str], Tally], prism: bool) -> str:
    """The Markdown table: requests/s (median of rounds), p50, server CPU, ratios."""
    head = (
        "| request | sandbox req/s | ceiling req/s | **sandbox / ceiling** | sandbox p50 ms "
        "| sandbox CPU µs/req | ceiling CPU µs/req |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if prism:
        head += " Prism req/s | sandbox / Prism |"
        rule += "---:|---:|"
    rows = [head, rule]
    for scenario in scenarios:
        ours, ceiling = tallies[(scenario.name, "sandbox")], tallies[(scenario.name, "ceiling")]
        mine, top = median(ours.rps), median(ceiling.rps)
        p50 = percentile(sorted(ours.latencies), 0.5) * 1000
        cpu = f"{median(ours.cpu_us):.0f}" if ours.cpu_us else "n/a"
        top_cpu = f"{median(ceiling.cpu_us):.0f}" if ceiling.cpu_us else "n/a"
        errors = f" ({ours.errors} errors)" if ours.errors else ""
        ratio = f"**{mine / top:.2f}{TIMES}**"
        cells = [f"{scenario.name}{errors}", f"{mine:,.0f}", f"{top:,.0f}", ratio, f"{p50:.2f}"]
        row = "| " + " | ".join([*cells, cpu, top_cpu]) + " |"
        if prism:
            other = tallies.get((scenario.name, "prism"))
            if other is None:
                row += " n/a | n/a |"
            else:
                theirs = median(other.rps)
                row += f" {theirs:,.0f} | {mine / theirs:.1f}{TIMES} |"
        rows.append(row)
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
