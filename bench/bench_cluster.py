"""By-hand benchmark: what HAProxy in front costs (never run in CI; see bench/README.md).

One run, three servers side by side, measured in interleaved rounds with the same Decoda
by-id read: `billing-sandbox serve` alone, `billing-sandbox cluster --shards 1` and
`--shards 2` (HAProxy, the merger, the shards). Reports requests/s, median latency and the CPU
every process of each setup spent per request (shards + HAProxy), and the ratios to `serve`.
The client runs on one core and the servers on the other, so a cluster cannot beat one
process here: docs/scaling.md turns these per-core figures into what more cores give.

    .venv/bin/python bench/bench_cluster.py --rounds 3 --duration 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from loadgen import Load, build_request, percentile, run_load
from servers import cpu_seconds, free_port, split_cpus

TENANT = {"TENANT": "bench", "API-KEY": "bench"}
TIMES = "\N{MULTIPLICATION SIGN}"


def _free_run(count: int) -> int:
    while True:
        base = free_port()
        if base + count < 65535:
            return base


def start(command: list[str], cpus: set[int] | None) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )  # fmt: skip
    return process


def serve_alone(cpus: set[int] | None) -> tuple[subprocess.Popen[str], int, list[int]]:
    port = free_port()
    process = start([sys.executable, "-m", "billing_sandbox", "serve", "--quiet",
                     "--port", str(port)], cpus)  # fmt: skip
    wait_for(port)
    return process, port, [process.pid]


def cluster(shards: int, cpus: set[int] | None) -> tuple[subprocess.Popen[str], int, list[int]]:
    port = _free_run(shards + 3)  # HAProxy, the shards, the merger, Redis, the exporter
    process = start([sys.executable, "-m", "billing_sandbox", "cluster", "--shards", str(shards),
                     "--port", str(port), "--quiet"], cpus)  # fmt: skip
    pids = []
    assert process.stdout is not None
    for line in process.stdout:
        words = line.split()
        if "pid" in words:
            pids.append(int(words[words.index("pid") + 1]))
        if line.strip() == "ready":
            break
    else:
        raise SystemExit(f"bench_cluster: the {shards}-shard cluster did not start")
    return process, port, pids


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/health")
            return
        except httpx.ConnectError:
            time.sleep(0.1)
    raise SystemExit("bench_cluster: a server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=8)
    options = parser.parse_args()
    split = split_cpus()
    client_cpus, server_cpus = split if split else (None, None)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)
    setups = {}
    with ExitStack() as stack:
        for name, make in (("serve", serve_alone), ("cluster, 1 shard", lambda c: cluster(1, c)),
                           ("cluster, 2 shards", lambda c: cluster(2, c))):  # fmt: skip
            process, port, pids = make(server_cpus)
            stack.callback(_stop, process)
            listed = httpx.get(f"http://127.0.0.1:{port}/billing/charge/list", headers=TENANT)
            charge = listed.json()[0]["id"]
            request = build_request("GET", f"/billing/charge/get/{charge}", port, TENANT)
            setups[name] = (port, pids, request)
        tallies: dict[str, dict[str, list[float]]] = {
            name: {"rps": [], "p50": [], "cpu": []} for name in setups
        }
        for round_number in range(options.rounds):
            print(f"round {round_number + 1} of {options.rounds}", file=sys.stderr, flush=True)
            for name, (port, pids, request) in setups.items():
                before = sum(cpu_seconds(pid) or 0.0 for pid in pids)
                sample = asyncio.run(run_load(Load(port, request, options.duration,
                                                   options.connections, 10_000_000)))  # fmt: skip
                after = sum(cpu_seconds(pid) or 0.0 for pid in pids)
                count = len(sample.latencies)
                tallies[name]["rps"].append(count / sample.elapsed)
                tallies[name]["p50"].append(percentile(sample.latencies, 0.5) * 1000)
                tallies[name]["cpu"].append((after - before) / max(count, 1) * 1e6)
    base = {key: median(values) for key, values in tallies["serve"].items()}
    print(
        "| setup | req/s | p50 ms | server CPU µs/req (all processes) | req/s vs serve "
        "| CPU/req vs serve |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, tally in tallies.items():
        rps, p50, cpu = (median(tally[key]) for key in ("rps", "p50", "cpu"))
        print(
            f"| {name} | {rps:,.0f} | {p50:.2f} | {cpu:.0f} | {rps / base['rps']:.2f}{TIMES} "
            f"| {cpu / base['cpu']:.2f}{TIMES} |"
        )
    return 0


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
