"""By-hand benchmark of the write-ahead log (issue 28; never run in CI; bench/README.md).

Three measures in one run, loopback only, every server stopped by its PID:

1. Write throughput. `python -m billing_sandbox serve --quiet` is started as users start it,
   four times: with no state file, and with `--state-file` and `--fsync every-second`,
   `always` and `off`. Three writes (a Decoda legacy patient, a Candid write-off, a MYCURE
   statement) run on each in interleaved rounds, driven by `loadgen.py` (raw keep-alive
   HTTP/1.1, `--connections` connections, bounded in time and requests). Reported: req/s,
   p50, server CPU per write, log bytes per write, each as a ratio to no state file (issue
   28's goal: every-second at least 0.9x).
2. The same writes in process (ASGI, no sockets), with and without a state file: what the log
   adds to a write in CPU µs, steadier than req/s on a shared machine.
3. Start-up replay (`walreplay.py`). A state file and a log of `--replay-writes` logged writes
   (the three writes in turn over `--tenants` tenants) are made by a child process calling
   the app in process over ASGI, `create_app(Settings(state_file=...))`: the same route
   wrapper appends the same records as under `serve` (no lifespan runs there, so nothing
   compacts the log; a record is checked against one a served sandbox wrote). Then `serve
   --state-file` is started on a copy and timed until `/_sandbox/health` answers, with its
   peak RSS (VmHWM) and when it says it replayed (its stderr); then stopped (it saves), and
   started once more from that snapshot alone, for comparison.

    .venv/bin/python bench/bench_wal.py                     # about 10 minutes on 2 cores
    .venv/bin/python bench/bench_wal.py --no-replay --rounds 3 --duration 2
    .venv/bin/python bench/bench_wal.py --no-throughput --replay-writes 100000,300000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import orjson
from loadgen import BenchError, Load, percentile, run_load
from servers import cpu_seconds, free_port, split_cpus
from walcalls import (
    WRITES_TENANT,
    Send,
    Write,
    asgi_send,
    http_send,
    serve_command,
    served,
    writes_for,
)
from walreplay import generate, progress, replay

TIMES = "\N{MULTIPLICATION SIGN}"
MODES: tuple[tuple[str, str | None], ...] = (
    ("no state file", None),
    ("every-second", "every-second"),
    ("always", "always"),
    ("off", "off"),
)
BASELINE = MODES[0][0]
GOAL = 0.9  # every-second's req/s over no state file's (issue 28)
# The record fields that differ between a served write and the generator's: the instant, the
# sequence number and the tenant.
VARYING = ("at", "seq", "tenant")


# ---- 1. write throughput ----


@dataclass
class Tally:
    """What the rounds measured of one write on one server."""

    rps: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    log_bytes: int = 0  # what the log grew by in runs with no compaction
    logged: int = 0  # the writes of those runs
    compactions: int = 0  # runs during which the log was folded into a snapshot (it shrank)
    errors: int = 0


@dataclass(frozen=True)
class Target:
    """One server under load: its mode, port, PID, writes, and its log (if any)."""

    mode: str
    port: int
    pid: int
    writes: list[Write]
    log: Path | None


def log_size(target: Target) -> int:
    return target.log.stat().st_size if target.log is not None else 0


async def measure(
    target: Target, write: Write, duration: float, connections: int, cap: int, tally: Tally
) -> None:
    """One bounded load run of `write` on `target`, added to `tally`."""
    before_cpu, before_log = cpu_seconds(target.pid), log_size(target)
    load = Load(target.port, write.request(target.port), duration, connections, cap,
                write.expected)  # fmt: skip
    sample = await run_load(load)
    after_cpu, after_log = cpu_seconds(target.pid), log_size(target)
    count = len(sample.latencies)
    tally.rps.append(count / sample.elapsed)
    tally.latencies += sample.latencies
    tally.errors += sample.errors
    if after_log >= before_log:
        tally.log_bytes += after_log - before_log
        tally.logged += count
    else:
        tally.compactions += 1
    if before_cpu is not None and after_cpu is not None and count:
        tally.cpu_us.append((after_cpu - before_cpu) / count * 1e6)
        tally.busy.append((after_cpu - before_cpu) / sample.elapsed)


def throughput(options: argparse.Namespace, work: Path, cpus: set[int] | None) -> str:
    """Start the four servers, run the writes on each in interleaved rounds; the report."""
    with ExitStack() as stack:
        targets = [start_target(stack, mode, fsync, work, cpus) for mode, fsync in MODES]
        check_records_match(targets[1])
        names = [write.name for write in targets[0].writes]
        tallies = rounds(targets, options)
        return throughput_table(names, tallies)


def rounds(targets: list[Target], options: argparse.Namespace) -> dict[tuple[str, str], Tally]:
    """A warm-up of each write on each server (discarded), then the rounds: each write on
    every server in turn, the servers' order turning from one round to the next."""

    def run(target: Target, index: int, seconds: float, tally: Tally) -> None:
        write = target.writes[index]
        cap, connections = options.max_writes, options.connections
        asyncio.run(measure(target, write, seconds, connections, cap, tally))

    count = len(targets[0].writes)
    for target in targets:
        for index in range(count):
            run(target, index, options.warmup, Tally())
    tallies: dict[tuple[str, str], Tally] = {}
    for number in range(options.rounds):
        progress(f"throughput: round {number + 1} of {options.rounds}")
        for index in range(count):
            shift = (number + index) % len(targets)
            for target in targets[shift:] + targets[:shift]:
                key = (target.writes[index].name, target.mode)
                run(target, index, options.duration, tallies.setdefault(key, Tally()))
    return tallies


def start_target(
    stack: ExitStack, mode: str, fsync: str | None, work: Path, cpus: set[int] | None
) -> Target:
    home = work / mode.replace(" ", "-")
    home.mkdir()
    state_file = None if fsync is None else home / "state.json"
    port = free_port()
    output = stack.enter_context((home / "serve.out").open("wb"))
    pid = stack.enter_context(served(serve_command(port, state_file, fsync), port, cpus, output))
    writes = asyncio.run(writes_for(http_send(port), WRITES_TENANT))
    log = None if state_file is None else state_file.with_name("state.json.log")
    progress(f"started serve ({mode}), pid {pid}")
    return Target(mode, port, pid, writes, log)


def check_records_match(target: Target) -> None:
    """The served sandbox's first logged patient is the record the in-process generator's
    calls log (the replay measure rests on it): the same fields, the same values."""
    if target.log is None:
        return
    asyncio.run(measure(target, target.writes[0], 0.2, 1, 1, Tally()))
    lines = target.log.read_bytes().splitlines()
    served_record = next(
        orjson.loads(line[18:]) for line in lines if b'"op":"createPatientV1"' in line
    )
    with tempfile.TemporaryDirectory(prefix="bench-wal-check-") as scratch:
        state_file = Path(scratch) / "state.json"
        generate(state_file, 1, 1, quiet=True)
        made = next(
            orjson.loads(line[18:])
            for line in state_file.with_name("state.json.log").read_bytes().splitlines()
            if b'"op":"createPatientV1"' in line
        )
    ours = {key: value for key, value in served_record.items() if key not in VARYING}
    theirs = {key: value for key, value in made.items() if key not in VARYING}
    if ours != theirs:
        raise BenchError(f"the in-process record differs from the served one: {ours} != {theirs}")


def throughput_table(names: list[str], tallies: dict[tuple[str, str], Tally]) -> str:
    """One row per write and mode: median req/s of the rounds and ratios to no state file;
    then the goal lines and what to know of the runs."""
    rows = [
        f"| write | server | req/s | **{TIMES} no state file** | p50 ms | p99 ms | max ms "
        f"| server CPU µs/write | {TIMES} no state file (CPU) | server busy | log bytes/write |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for name in names:
        base = tallies[(name, BASELINE)]
        for mode, _ in MODES:
            tally = tallies[(name, mode)]
            cells, ratio, cpu_ratio = row(name, mode, tally, base)
            rows.append("| " + " | ".join(cells) + " |")
            if mode == "every-second":
                verdict = "met" if ratio >= GOAL else "NOT met"
                notes.append(f"{name}: every-second {ratio:.3f}{TIMES} no state file by req/s, "
                             f"{cpu_ratio} by server CPU per write (goal ≥ {GOAL}{TIMES} by "
                             f"req/s) — {verdict}")  # fmt: skip
            if tally.compactions:
                notes.append(f"{name}, {mode}: the log was compacted during "
                             f"{tally.compactions} timed run(s) (see max ms)")  # fmt: skip
    if any(tally.errors for tally in tallies.values()):
        notes.append("WARNING: some writes did not answer as expected; the figures are suspect")
    return "\n".join(rows) + "\n\n```\n" + "\n".join(notes) + "\n```"


def row(name: str, mode: str, tally: Tally, base: Tally) -> tuple[list[str], float, str]:
    """A table row's cells, its req/s ratio to `base` and its CPU ratio (as text)."""
    rps = median(tally.rps)
    ratio = rps / median(base.rps)
    ordered = sorted(tally.latencies)
    cpu = median(tally.cpu_us) if tally.cpu_us else None
    base_cpu = median(base.cpu_us) if base.cpu_us else None
    cpu_ratio = "n/a" if cpu is None or base_cpu is None else f"{base_cpu / cpu:.2f}{TIMES}"
    cells = [
        f"{name} ({tally.errors} errors)" if tally.errors else name,
        mode,
        f"{rps:,.0f}",
        f"**{ratio:.2f}{TIMES}**",
        *(f"{percentile(ordered, share) * 1000:.2f}" for share in (0.5, 0.99, 1.0)),
        "n/a" if cpu is None else f"{cpu:.0f}",
        cpu_ratio,
        f"{median(tally.busy):.0%}" if tally.busy else "n/a",
        f"{tally.log_bytes / tally.logged:.0f}" if tally.log_bytes else "-",
    ]
    return cells, ratio, cpu_ratio


# ---- 1b. the same writes in process: what the log adds to a write, without sockets ----


def in_process(options: argparse.Namespace, work: Path) -> str:
    """Each write called over ASGI in this process on an app with no state file and on apps
    with one (`every-second`, `always`), in alternating blocks: CPU µs per write (wall µs for
    `always`, whose cost is the wait for the disk), the best block of each."""
    from billing_sandbox.app import create_app
    from billing_sandbox.settings import Settings

    apps: dict[str, Send] = {BASELINE: asgi_send(create_app(Settings()))}
    for mode in ("every-second", "always"):
        state_file = work / f"in-process-{mode}" / "state.json"
        state_file.parent.mkdir()
        apps[mode] = asgi_send(create_app(Settings(state_file=state_file, fsync=mode)))
    writes = {mode: asyncio.run(writes_for(send, WRITES_TENANT)) for mode, send in apps.items()}
    best: dict[tuple[str, str], float] = {}
    for _ in range(options.blocks):
        for mode, send in apps.items():
            calls = options.block if mode != "always" else max(1, options.block // 10)
            for write in writes[mode]:
                wall, cpu = asyncio.run(timed(send, write, calls))
                key = (write.name, mode)
                spent = wall if mode == "always" else cpu
                best[key] = min(best.get(key, float("inf")), spent / calls * 1e6)
    rows = [
        f"| write (in process, best of {options.blocks} blocks) | no state file CPU µs "
        f"| every-second CPU µs | {TIMES} no state file | the log's own µs | always wall µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for write in writes[BASELINE]:
        base, second = best[(write.name, BASELINE)], best[(write.name, "every-second")]
        always = best[(write.name, "always")]
        cells = [write.name, f"{base:.0f}", f"{second:.0f}", f"{base / second:.2f}{TIMES}",
                 f"{second - base:.0f}", f"{always:.0f}"]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


async def timed(send: Send, write: Write, calls: int) -> tuple[float, float]:
    """Wall and CPU seconds for `calls` of `write`, one after another."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        status, answer = await send("POST", write.path, write.headers, write.body)
        if status != write.expected:
            raise BenchError(f"{write.name}: {status} {answer[:300]!r}")
    return time.perf_counter() - wall, time.process_time() - cpu


# ---- the command ----


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds, discarded")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-writes", type=int, default=20_000, help="cap per load run")
    parser.add_argument("--blocks", type=int, default=5, help="in-process blocks per write")
    parser.add_argument("--block", type=int, default=2000, help="writes per in-process block")
    parser.add_argument(
        "--replay-writes",
        type=sizes,
        default=[1_000_000],
        help="logged writes to replay, comma-separated (default: 1000000)",
    )
    parser.add_argument("--tenants", type=int, default=10, help="tenants the writes go to")
    parser.add_argument("--startup-timeout", type=float, default=1800.0)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-replay", action="store_true")
    options = parser.parse_args(argv)
    split = split_cpus()
    client_cpus, server_cpus = split if split else (None, None)
    if client_cpus is not None:
        os.sched_setaffinity(0, client_cpus)
    with tempfile.TemporaryDirectory(prefix="bench-wal-") as scratch:
        work = Path(scratch)
        if not options.no_throughput:
            print(throughput(options, work, server_cpus), flush=True)
            print("\n" + in_process(options, work), flush=True)
        if not options.no_replay:
            print("\n" + replay(options, work, server_cpus), flush=True)
    return 0


if __name__ == "__main__":
    began = time.perf_counter()
    try:
        code = main(sys.argv[1:])
    except BenchError as error:
        print(f"bench_wal: {error}", file=sys.stderr)
        code = 1
    print(f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    sys.exit(code)
