"""How long seeding one Candid tenant takes (the goal: a default tenant in under 100 ms).

Run by hand: `.venv/bin/python bench/bench_seed.py [--tenants 30] [--records 200]
[--recorded 1000]`. Each tenant is new (different id), so every run really seeds; the median
is reported next to the time to `orjson.loads` the same tenant's dump, a floor for building
that much data. With `--recorded N`, N write-offs are first recorded through the proxy from
another sandbox, and tenants are seeded again with that recording laid over them
(`serve --recordings`), in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import orjson

from billing_sandbox.apis.candid.state import export_state
from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.app import create_app
from billing_sandbox.proxy.app import create_proxy_app
from billing_sandbox.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=30)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--recorded", type=int, default=0, help="write-offs to record first")
    args = parser.parse_args()
    print("| records | recorded | seed p50 ms | seed max ms | loads(dump) p50 ms | ratio |")
    print("|---|---|---|---|---|---|")
    seed = _measure(Settings(records=args.records), args.tenants, 0)
    if args.recorded:
        with tempfile.TemporaryDirectory() as directory:
            anyio.run(_record, Path(directory), args.recorded)
            settings = Settings(records=args.records, recordings_dir=Path(directory))
            recorded = _measure(settings, args.tenants, args.recorded)
        print(f"laying {args.recorded} recorded write-offs over the seed: {recorded / seed:.1f}x")
    verdict = "met" if seed < 100 else "NOT met"
    print(
        f"seeding a tenant of {args.records} records: p50 {seed:.1f} ms (goal < 100 ms) — {verdict}"
    )


def _measure(settings: Settings, tenants: int, recorded: int) -> float:
    """Seed `tenants` new Candid tenants; print a row and return the median in ms."""
    sandbox = create_app(settings).state.sandbox
    sandbox.tenant("warm-up").store("candid")
    seed_ms: list[float] = []
    floor_ms: list[float] = []
    for index in range(tenants):
        tenant = sandbox.tenant(f"bench-{index}")
        started = time.perf_counter()
        store: CandidStore = tenant.store("candid")
        seed_ms.append((time.perf_counter() - started) * 1000)
        dumped = orjson.dumps(export_state(store))
        started = time.perf_counter()
        orjson.loads(dumped)
        floor_ms.append((time.perf_counter() - started) * 1000)
    seed, floor = statistics.median(seed_ms), statistics.median(floor_ms)
    print(
        f"| {settings.records} | {recorded} | {seed:.1f} | {max(seed_ms):.1f} | {floor:.2f} "
        f"| {seed / floor:.0f}x |"
    )
    return seed


async def _record(directory: Path, count: int) -> None:
    """Pages of write-offs of another sandbox's tenant, through a recording proxy."""
    upstream = create_app(Settings(seed=7, records=count))
    transport = httpx.ASGITransport(app=upstream)
    proxy = create_proxy_app("candid", "http://upstream", record_dir=directory, transport=transport)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=proxy), base_url="http://proxy"
    ) as client:
        token = await client.post(
            "/api/auth/v2/token", json={"client_id": "recorded", "client_secret": "s"}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        query: dict[str, str | int] = {"limit": 100}
        while True:
            page = (await client.get("/api/write-offs/v1", params=query, headers=headers)).json()
            if "next_page_token" not in page:
                break
            query["page_token"] = page["next_page_token"]
    await proxy.state.proxy.client.aclose()


if __name__ == "__main__":
    main()
