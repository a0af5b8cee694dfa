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
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from billing_sandbox.app import create_app
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings


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
    args = parser.parse_args()
    anyio.run(run, args.tenants, args.cap, args.writers, args.samples)


if __name__ == "__main__":
    main()
