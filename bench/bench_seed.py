"""How long seeding one Candid tenant takes (the goal: a default tenant in under 100 ms).

Run by hand: `.venv/bin/python bench/bench_seed.py [--tenants 30] [--records 200]`.
Each tenant is new (different id), so every run really seeds; the median is reported next to
the time to `orjson.loads` the same tenant's dump, a floor for building that much data.
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from billing_sandbox.apis.candid.store import CandidStore
from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=30)
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args()
    sandbox = create_app(Settings(records=args.records)).state.sandbox
    sandbox.tenant("warm-up").store("candid")
    seed_ms: list[float] = []
    floor_ms: list[float] = []
    for index in range(args.tenants):
        tenant = sandbox.tenant(f"bench-{index}")
        started = time.perf_counter()
        store: CandidStore = tenant.store("candid")
        seed_ms.append((time.perf_counter() - started) * 1000)
        dumped = orjson.dumps(store.dump())
        started = time.perf_counter()
        orjson.loads(dumped)
        floor_ms.append((time.perf_counter() - started) * 1000)
    seed, floor = statistics.median(seed_ms), statistics.median(floor_ms)
    print("| records | seed p50 ms | seed max ms | loads(dump) p50 ms | ratio |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.records} | {seed:.1f} | {max(seed_ms):.1f} | {floor:.2f} | {seed / floor:.0f}x |"
    )
    verdict = "met" if seed < 100 else "NOT met"
    print(
        f"seeding a tenant of {args.records} records: p50 {seed:.1f} ms (goal < 100 ms) — {verdict}"
    )


if __name__ == "__main__":
    main()
