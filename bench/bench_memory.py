"""Bounded memory: RSS stays flat however many tenants pass through a capped sandbox.

Run by hand: `.venv/bin/python bench/bench_memory.py [--tenants 10000] [--cap 200]
[--writers 5]`. One sandbox in this process, driven over ASGI (no sockets), with
`--max-tenants CAP` and a temporary `--state-dir`. Tenants sign in in turn to Candid (token,
then a page of write-offs), Decoda (a charge list) and MYCURE (sign-in as a seeded account,
then a find); every `--writers`-th tenant also creates a Decoda patient, so it has writes and
is spilled, not dropped, when it leaves memory. Reported: the RSS once the cap is first full
(the cap's own RSS), the peak RSS after every tenant has passed through, their ratio (goal
≤ 1.2), and the cost of spilling and reloading a default tenant seeded in all three APIs with
one write (p50/p99 ms; goal: reload < 50 ms).

Two more modes, each tenant used in all three APIs (a token and a first page of each,
Decoda's whole charge list):

- `--per-tenant N`: the RSS N such tenants add, per tenant, with kept renderings as served
  and without (`--max-render-bytes 0`), each in a fresh child process: the difference is
  what a tenant's kept renderings cost (goal ≤ 0.4 MB).
- `--max-memory BYTES --tenants N`: N such tenants (every `--writers`-th with a write) through
  a server capped at BYTES and no tenant cap, the RSS read after every tenant: its peak
  stays under the cap.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from billing_sandbox.app import create_app
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings, parse

MB = 1e6


def rss_mb() -> float:
    """This process's resident memory now (Linux: /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def visit(http: httpx.AsyncClient, index: int, writers: int) -> None:
    """One tenant's first requests, in one API (every third tenant in each)."""
    tenant = f"bench-{index}"
    kind = index % 3
    if kind == 0:
        token = await http.post(
            "/api/auth/v2/token", json={"client_id": tenant, "client_secret": "s"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = await http.get("/api/write-offs/v1", params={"limit": 10}, headers=headers)
    elif kind == 1:
        answer = await http.get("/billing/charge/list", headers={"TENANT": tenant, "API-KEY": "k"})
    else:
        # A seeded account: signing in makes no new one, so the tenant stays pristine.
        login = {"strategy": "local", "email": f"billing@{tenant}.test", "password": "p"}
        signed = await http.post("/authentication", json=login)
        headers = {"Authorization": f"Bearer {signed.json()['accessToken']}"}
        answer = await http.get("/billing-soas", params={"$limit": 10}, headers=headers)
    assert answer.status_code == 200, answer.text
    if index % writers == 0:
        made = await http.post(
            "/user/patient/create",
            json={"firstName": "Ada", "lastName": "Lovelace"},
            headers={"TENANT": tenant if kind != 2 else f"{tenant}.test", "API-KEY": "k"},
        )
        assert made.status_code == 200, made.text


async def visit_all(http: httpx.AsyncClient, tenant: str, write: bool) -> None:
    """One tenant in all three APIs, as one tenant id: a Candid token and first page, Decoda's
    whole charge list, a MYCURE sign-in (as the tenant's seeded account) and a first find;
    with `write`, a Decoda patient too (the tenant then spills, never drops)."""
    token = await http.post("/api/auth/v2/token", json={"client_id": tenant, "client_secret": "s"})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    decoda = {"TENANT": tenant, "API-KEY": "k"}
    login = {"strategy": "local", "email": f"billing@{tenant}", "password": "p"}
    signed = await http.post("/authentication", json=login)
    answers = [
        await http.get("/api/write-offs/v1", headers=bearer),
        await http.get("/billing/charge/list", headers=decoda),
        await http.get(
            "/billing-soas", headers={"Authorization": f"Bearer {signed.json()['accessToken']}"}
        ),
    ]
    if write:
        answers.append(await http.post("/user/patient/create", json=ADA, headers=decoda))
    for answer in answers:
        assert answer.status_code == 200, answer.text


ADA = {"firstName": "Ada", "lastName": "Lovelace"}


def resident_mb() -> float:
    """The resident set now, as the memory cap reads it (/proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / MB


async def per_tenant(tenants: int, render_bytes: int) -> dict[str, float]:
    """The RSS `tenants` tenants used in all three APIs add, each: measured after 300 tenants
    went before (the journal full, the allocator warm), in this process."""
    settings = Settings(max_tenants=10 * tenants + 1000, max_render_bytes=render_bytes)
    app = create_app(settings)
    sandbox: Sandbox = app.state.sandbox
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for index in range(300):
            await visit_all(http, f"warm-{index}.test", write=False)
        gc.collect()
        before = resident_mb()
        for index in range(tenants):
            await visit_all(http, f"t-{index}.test", write=False)
        gc.collect()
        after = resident_mb()
    kept = [sandbox.tenant(f"t-{index}.test").renders.size for index in range(tenants)]
    return {"rss_mb": (after - before) / tenants, "kept_mb": statistics.mean(kept) / MB}


def per_tenant_table(tenants: int) -> None:
    """`per_tenant` with the default budget and with none, each in a fresh child process."""
    rows: dict[str, dict[str, float]] = {}
    for name, budget in (("kept renderings (default)", Settings().max_render_bytes), ("none", 0)):
        child = subprocess.run(
            [sys.executable, __file__, "--per-tenant", str(tenants), "--child-budget", str(budget)],
            capture_output=True, text=True, timeout=1800, check=True,
        )  # fmt: skip
        rows[name] = json.loads(child.stdout.splitlines()[-1])
    kept, none = rows["kept renderings (default)"], rows["none"]
    print(f"{tenants} tenants, each used in all three APIs (Decoda's whole charge list read)\n")
    print("| renderings | RSS per tenant | kept renderings per tenant (accounted) |")
    print("|---|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['rss_mb']:.2f} MB | {row['kept_mb']:.2f} MB |")
    added = kept["rss_mb"] - none["rss_mb"]
    print(f"\nwhat kept renderings add per tenant: **{added:.2f} MB** of RSS")


async def under_a_cap(tenants: int, cap: int, writers: int) -> None:
    """`tenants` tenants in all three APIs through a server with `max_memory=cap` and no tenant
    cap to speak of: the peak of the RSS read after each tenant, against the cap."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as directory:
        settings = Settings(max_tenants=1_000_000, max_memory=cap, state_dir=Path(directory))
        app = create_app(settings)
        sandbox: Sandbox = app.state.sandbox
        transport = httpx.ASGITransport(app=app)
        started_mb = resident_mb()
        peak = 0.0
        began = time.perf_counter()
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for index in range(tenants):
                await visit_all(http, f"c-{index}.test", write=index % writers == 0)
                peak = max(peak, resident_mb())
        elapsed = time.perf_counter() - began
        held, spilled = len(sandbox.tenants()), len(sandbox.spilled())
    capped = f"--max-memory {cap / MB:.0f} MB" if cap else "no memory cap (--max-memory 0)"
    print(
        f"{tenants} tenants in all three APIs (one in {writers} with a write) in {elapsed:.0f} s, "
        f"{capped}, no tenant cap: {held} held, {spilled} spilled\n"
    )
    print("| measure | value |\n|---|---:|")
    print(f"| RSS at start (app built) | {started_mb:.0f} MB |")
    print(f"| peak RSS, read after every tenant | {peak:.0f} MB |")
    if cap:
        print(f"| cap | {cap / MB:.0f} MB |")
        print(f"| peak ÷ cap (goal < 1) | **{peak * MB / cap:.3f}** |")
    high_water = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    print(f"| process peak RSS (VmHWM, between reads too) | {high_water:.0f} MB |")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def spill_and_reload(sandbox: Sandbox, http: httpx.AsyncClient, samples: int) -> None:
    """Time spilling and reloading default tenants seeded in all three APIs, with one write."""
    assert sandbox.overflow is not None
    spill_ms: list[float] = []
    reload_ms: list[float] = []
    for index in range(samples):
        tenant_id = f"round-trip-{index}.test"
        await http.post("/api/auth/v2/token", json={"client_id": tenant_id, "client_secret": "s"})
        await http.post(
            "/user/patient/create", json={"firstName": "A", "lastName": "B"},
            headers={"TENANT": tenant_id, "API-KEY": "k"},
        )  # fmt: skip
        tenant = sandbox.tenant(tenant_id)
        for api in ("candid", "decoda", "mycure"):
            tenant.store(api)
        started = time.perf_counter()
        sandbox.overflow.spill(tenant)
        spill_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        reloaded = sandbox.overflow.reload(tenant_id)
        reload_ms.append((time.perf_counter() - started) * 1000)
        assert reloaded is not None and sorted(reloaded.built_stores()) == [
            "candid",
            "decoda",
            "mycure",
        ]
    for name, values in (("spill", spill_ms), ("reload", reload_ms)):
        print(
            f"| {name} of a default tenant (3 APIs, 1 write) | {statistics.median(values):.1f} "
            f"| {percentile(values, 0.99):.1f} |"
        )


async def run(tenants: int, cap: int, writers: int, samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as directory:
        settings = Settings(max_tenants=cap, state_dir=Path(directory))
        app = create_app(settings)
        sandbox: Sandbox = app.state.sandbox
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            started = time.perf_counter()
            full_rss = 0.0
            peak = 0.0
            for index in range(tenants):
                await visit(http, index, writers)
                if index + 1 == 2 * cap:  # the cap full twice over: steady state
                    gc.collect()
                    full_rss = rss_mb()
                if index + 1 > 2 * cap and index % 250 == 0:
                    peak = max(peak, rss_mb())
            peak = max(peak, rss_mb())
            elapsed = time.perf_counter() - started
            held, spilled = len(sandbox.tenants()), len(sandbox.spilled())
            print(
                f"{tenants} tenants through a cap of {cap} in {elapsed:.0f} s: {held} in "
                f"memory, {spilled} spilled (every {writers}th has a write)\n"
            )
            print("| measure | value |\n|---|---|")
            print(f"| RSS with the cap full (after {2 * cap} tenants) | {full_rss:.0f} MB |")
            print(f"| peak RSS after {tenants} tenants | {peak:.0f} MB |")
            print(f"| ratio (goal ≤ 1.2) | **{peak / full_rss:.2f}** |")
            print(f"| process peak RSS (getrusage, includes start-up) | {peak_rss_mb():.0f} MB |\n")
            print("| operation | p50 ms | p99 ms |\n|---|---|---|")
            await spill_and_reload(sandbox, http, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=200)
    parser.add_argument("--writers", type=int, default=5, help="every Nth tenant writes")
    parser.add_argument("--samples", type=int, default=100, help="spill/reload round trips")
    parser.add_argument(
        "--per-tenant", type=int, metavar="N", help="RSS per tenant used in all three APIs"
    )
    parser.add_argument(
        "--max-memory", type=size, metavar="BYTES", help="run --tenants through this memory cap"
    )
    parser.add_argument("--child-budget", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.per_tenant is not None and args.child_budget is not None:
        measured = anyio.run(per_tenant, args.per_tenant, args.child_budget)
        print(json.dumps(measured))
    elif args.per_tenant is not None:
        per_tenant_table(args.per_tenant)
    elif args.max_memory is not None:
        anyio.run(under_a_cap, args.tenants, args.max_memory, args.writers)
    else:
        anyio.run(run, args.tenants, args.cap, args.writers, args.samples)


def size(text: str) -> int:
    """A size as `--max-memory` takes it (`700M`, `1GiB`)."""
    try:
        value: Any = parse("max_memory", text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return int(value)


if __name__ == "__main__":
    main()
