"""How long a 10,000-step scenario takes to apply (issue 30: "a few seconds").

Run by hand: `.venv/bin/python bench/bench_scenarios.py [--rounds 2000] [--runs 3]`. The
scenario repeats five Decoda steps `--rounds` times (a patient with a Faker name, a charge for
them, an adjustment, a cash payment with query parameters, a read of the charge: every step
renders templates, a reference to an earlier answer among them), after freezing the tenant's
clock. Each run applies it to a fresh tenant of a fresh app (`create_app`, in process, as the
control API's `POST /_sandbox/tenants/{t}/scenarios` does), and prints the steps per second and
the seconds taken; loading and checking the file are timed apart.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import anyio

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.scenarios import Applier, Scenario, check_scenario, load_scenario
from billing_sandbox.settings import Settings

STEPS = [
    {
        "name": "patient",
        "call": "POST /user/patient/create",
        "body": {"firstName": "${fake.first_name}", "lastName": "${fake.last_name}"},
    },
    {
        "name": "charge",
        "call": "POST /billing/payment-terminal/charge/create",
        "body": {
            "patientId": "${patient.id}",
            "totalOutstanding": 5000,
            "description": "Visit ${i} on ${today - 3d}",
            "items": [{"itemId": "item_sandbox_0001", "quantity": 1, "price": 5000}],
        },
    },
    {
        "call": "POST /billing/adjustment/create",
        "body": {"chargeId": "${charge.id}", "amount": -500, "reason": "Courtesy discount"},
    },
    {
        "call": "POST /billing/payment-terminal/charge/create-cash-settled",
        "query": {"payment_medium": "CASH", "amount": 1500},
        "body": [{"id": "${charge.id}", "patientId": "${patient.id}", "totalOutstanding": 0}],
    },
    {"call": "GET /billing/charge/get/${charge.id}"},
]


def scenario_of(rounds: int) -> dict[str, object]:
    return {
        "scenario": 1,
        "name": "bench-clinic",
        "apis": ["decoda"],
        "seed": 1,
        "steps": [
            {"clock": {"freeze": "2026-03-01T12:00:00Z"}},
            {"repeat": rounds, "steps": STEPS},
        ],
    }


async def apply_once(scenario: Scenario, tenant: str) -> float:
    app = create_app(Settings.from_env(), clock=ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC)))
    applier = Applier(app, specs=app.state.sandbox.specs)
    started = time.perf_counter()
    applied = await applier.apply(scenario, tenant)
    seconds = time.perf_counter() - started
    assert applied.steps == scenario.size, applied
    return seconds


async def run(rounds: int, runs: int) -> None:
    document = scenario_of(rounds)
    started = time.perf_counter()
    scenario = load_scenario(document)
    loaded = time.perf_counter() - started
    specs = create_app(Settings.from_env()).state.sandbox.specs
    started = time.perf_counter()
    assert check_scenario(scenario, specs) == []
    checked = time.perf_counter() - started
    print(f"scenario: {scenario.size} steps; load {loaded * 1000:.1f} ms", end="")
    print(f", check {checked * 1000:.1f} ms")
    print("| run | seconds | steps/second |")
    print("|---:|---:|---:|")
    times = []
    for index in range(runs):
        seconds = await apply_once(scenario, f"bench-{index}")
        times.append(seconds)
        print(f"| {index + 1} | {seconds:.2f} | {scenario.size / seconds:,.0f} |")
    median = statistics.median(times)
    print(f"median: {median:.2f} s, {scenario.size / median:,.0f} steps/second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000, help="repeats of the five steps")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    anyio.run(run, args.rounds, args.runs)


if __name__ == "__main__":
    main()
