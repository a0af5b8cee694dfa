"""Load from `wrk` (Debian's package): one request, repeated on keep-alive connections.

wrk is a C load generator, so on a 2-core machine with the client pinned to one core and the
server to the other, the server is the bottleneck even at 20k+ requests/s, where the asyncio
load generator (`loadgen.py`) would be. Each run gets a small Lua script that sets the method,
path, headers and body; the figures are parsed from wrk's own summary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from loadgen import BenchError

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50: float  # seconds
    p99: float
    non_2xx: int
    socket_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def lua_script(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    """The script that makes every request of a run this one."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"wrk.method = {quoted(method)}", f"wrk.path = {quoted(path)}"]
    lines += [f"wrk.headers[{quoted(k)}] = {quoted(v)}" for k, v in headers.items()]
    if body:
        lines.append(f"wrk.body = {quoted(body.decode())}")
    return "\n".join(lines) + "\n"


def run_wrk(
    script: Path, port: int, duration: float, connections: int, cpus: set[int] | None
) -> WrkRun:
    """One wrk run on one thread (pinned to `cpus`), bounded by `duration` and a timeout."""
    binary = wrk_binary()
    if binary is None:
        raise BenchError("wrk is not on the PATH (apt-get install wrk)")
    command = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               "-s", str(script), f"http://127.0.0.1:{port}"]  # fmt: skip
    if cpus is not None:
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return parse_summary(done.stdout)


def parse_summary(text: str) -> WrkRun:
    """wrk's summary, read: requests and seconds, the 50% and 99% latencies, the errors."""
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise BenchError(f"wrk printed no request count: {text[-300:]}")
    requests, seconds = int(found[1]), float(found[2]) * _UNITS[found[3]]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkRun(
        requests=requests,
        seconds=seconds,
        p50=_latency(text, "50%"),
        p99=_latency(text, "99%"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _latency(text: str, which: str) -> float:
    found = re.search(rf"^\s*{re.escape(which)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return float(found[1]) * _UNITS[found[2]] if found else float("nan")
