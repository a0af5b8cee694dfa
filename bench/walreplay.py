"""Start-up replay of a large write-ahead log: the log made in process, `serve` timed over it.

Also the script of the child that makes the log: `walreplay.py generate PATH WRITES TENANTS`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from loadgen import BenchError
from servers import free_port
from walcalls import WRITES_TENANT, asgi_send, call_json, http_send, serve_command, stop, writes_for


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(state_file: Path, writes: int, tenants: int, quiet: bool = False) -> None:
    """A snapshot and `writes` logged writes after it, made by a child process (so its memory
    is its own and gone when it ends)."""
    command = [sys.executable, str(Path(__file__).resolve()), "generate", str(state_file),
               str(writes), str(tenants)]  # fmt: skip
    done = subprocess.run(command, capture_output=quiet, check=False, timeout=3600)
    if done.returncode != 0:
        raise BenchError(f"generating the log failed ({done.returncode}): {done.stderr!r}")


async def generate_in_process(state_file: Path, writes: int, tenants: int) -> None:
    """Child side: sign `tenants` tenants in, save a snapshot, then log `writes` writes."""
    from billing_sandbox.app import create_app
    from billing_sandbox.settings import Settings

    # No compaction while writing: the lifespan (which would start one) never runs here, and
    # the bound is out of reach besides.
    settings = Settings(state_file=state_file, fsync="off", max_log_bytes=1 << 60, quiet=True)
    send = asgi_send(create_app(settings))
    each = [await writes_for(send, f"{WRITES_TENANT}-{n}") for n in range(tenants)]
    await call_json(send, "POST", "/_sandbox/state/save", {}, None)
    plan = [write for tenant in zip(*each, strict=True) for write in tenant]
    started = time.perf_counter()
    for index in range(writes):
        write = plan[index % len(plan)]
        status, answer = await send("POST", write.path, write.headers, write.body)
        if status != write.expected:
            raise BenchError(f"{write.name}: {status} {answer[:300]!r}")
        if index and index % 100_000 == 0:
            progress(f"generated {index:,} writes ({time.perf_counter() - started:.0f} s)")
    log = state_file.with_name(state_file.name + ".log")
    lines = log.read_bytes().count(b"\n")
    if lines != writes + 1:  # the header, then one record per write: nothing compacted
        raise BenchError(f"{log} holds {lines - 1} records, not {writes}")
    progress(f"generated {writes:,} writes in {time.perf_counter() - started:.0f} s")


@dataclass
class Start:
    """What one start of `serve` took: seconds to each step, memory, what it said."""

    replayed_s: float | None = None  # when it said it replayed the log
    banner_s: float | None = None  # when it printed its banner (the app built, compacted)
    ready_s: float = 0.0  # when /_sandbox/health first answered 200
    peak_rss_mb: float = 0.0  # VmHWM when ready
    rss_mb: float = 0.0  # VmRSS when ready
    stop_s: float = 0.0  # SIGTERM to exit (it saves the state file)
    said: list[str] = field(default_factory=list)


def proc_status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no {key} in /proc/{pid}/status")


def watch(stream: IO[bytes], started: float, start: Start) -> None:
    """Thread: note when the server's lines come (the replay warning, the banner)."""
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        start.said.append(line)
        now = time.perf_counter() - started
        if "replayed" in line and start.replayed_s is None:
            start.replayed_s = now
        elif start.banner_s is None and line.startswith("billing-sandbox serving on"):
            start.banner_s = now


def time_start(state_file: Path | None, cpus: set[int] | None, timeout: float) -> Start:
    """Start `serve` (on `state_file`), time it until healthy, note its memory, stop it."""
    port = free_port()
    start = Start()
    started = time.perf_counter()
    child = subprocess.Popen(serve_command(port, state_file, None), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)  # fmt: skip
    assert child.stdout is not None
    reader = threading.Thread(target=watch, args=(child.stdout, started, start), daemon=True)
    reader.start()
    try:
        if cpus is not None:
            os.sched_setaffinity(child.pid, cpus)
        start.ready_s = healthy_at(child, port, timeout) - started
        start.peak_rss_mb = proc_status_mb(child.pid, "VmHWM")
        start.rss_mb = proc_status_mb(child.pid, "VmRSS")
    finally:
        start.stop_s = stop(child)
        reader.join(timeout=10)
    return start


def healthy_at(child: subprocess.Popen[bytes], port: int, timeout: float) -> float:
    """The moment `/_sandbox/health` first answers 200, polled every 20 ms."""
    try:
        return asyncio.run(asyncio.wait_for(poll_health(child, port), timeout))
    except TimeoutError:
        raise BenchError(f"serve was not healthy within {timeout} s") from None


async def poll_health(child: subprocess.Popen[bytes], port: int) -> float:
    send = http_send(port)
    while True:
        if child.poll() is not None:
            raise BenchError(f"serve exited with {child.returncode} before it was healthy")
        try:
            status, _ = await send("GET", "/_sandbox/health", {}, b"")
            if status == 200:
                return time.perf_counter()
        except OSError:
            pass
        await asyncio.sleep(0.02)


def replay(options: argparse.Namespace, work: Path, cpus: set[int] | None) -> str:
    """`serve` with no state file timed, then a row for each size of log (`replay_row`)."""
    rows = [
        "| logged writes | log MB | generated in s | **start-up, replaying: s to healthy** "
        "| of it: log replayed at s | new snapshot written at s | peak RSS MB | RSS MB "
        "| stop (save) s "
        "| start-up from the snapshot alone: s | its peak RSS MB | state file MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    empty = time_start(None, cpus, options.startup_timeout)
    notes = [f"serve with no state file: healthy in {empty.ready_s:.2f} s, "
             f"peak RSS {empty.peak_rss_mb:.0f} MB"]  # fmt: skip
    for size in options.replay_writes:
        rows.append(replay_row(size, options, work, cpus))
    return "\n".join(rows) + "\n\n" + "\n".join(notes)


def replay_row(size: int, options: argparse.Namespace, work: Path, cpus: set[int] | None) -> str:
    """Make a log of `size` writes, time a start that replays it and one from the snapshot
    that start left; the table row."""
    home = work / f"replay-{size}"
    home.mkdir()
    state_file = home / "state.json"
    began = time.perf_counter()
    generate(state_file, size, options.tenants)
    generated_s = time.perf_counter() - began
    log_mb = state_file.with_name("state.json.log").stat().st_size / 2**20
    progress(f"replay: starting serve over {size:,} logged writes ({log_mb:.0f} MB)")
    first = time_start(state_file, cpus, options.startup_timeout)
    check_replayed(first, size)
    progress("replay: starting serve again, from the snapshot alone")
    second = time_start(state_file, cpus, options.startup_timeout)
    snapshot_mb = state_file.stat().st_size / 2**20
    shutil.rmtree(home)
    replayed, built = (
        "n/a" if moment is None else f"{moment:.1f}"
        for moment in (first.replayed_s, first.banner_s)
    )
    cells = [
        f"{size:,}", f"{log_mb:.0f}", f"{generated_s:.0f}", f"**{first.ready_s:.1f}**",
        replayed, built, f"{first.peak_rss_mb:,.0f}", f"{first.rss_mb:,.0f}",
        f"{first.stop_s:.1f}", f"{second.ready_s:.1f}", f"{second.peak_rss_mb:,.0f}",
        f"{snapshot_mb:.0f}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def check_replayed(start: Start, size: int) -> None:
    """The server said it replayed exactly the writes logged."""
    said = next((line for line in start.said if "replayed" in line), "")
    if f"replayed {size} changes" not in said:
        raise BenchError(f"serve did not say it replayed {size} changes: {start.said[-5:]}")


if __name__ == "__main__":
    if sys.argv[1:2] != ["generate"]:
        sys.exit("usage: walreplay.py generate PATH WRITES TENANTS (bench_wal.py runs it)")
    path, writes, tenants = sys.argv[2:]
    asyncio.run(generate_in_process(Path(path), int(writes), int(tenants)))
