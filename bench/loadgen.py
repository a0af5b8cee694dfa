"""The load generator: raw keep-alive HTTP/1.1 over asyncio streams, in bounded runs."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

HOST = "127.0.0.1"
GRACE = 15.0  # seconds a load run may overrun its duration before it is abandoned


class BenchError(RuntimeError):
    """The benchmark could not run as intended (a server failed, a response was malformed)."""


# ---- HTTP/1.1 over asyncio streams ----


def build_request(
    method: str, path: str, port: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, int]:
    """Status code and body length of a response head; only Content-Length framing is accepted."""
    status_line, *header_lines = head.rstrip(b"\r\n").split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    if status in (204, 304) or 100 <= status < 200:
        return status, 0
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, int(value.strip())
    raise BenchError(f"response {status} has no Content-Length (chunked bodies are not supported)")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read exactly one response off a keep-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = parse_head(head)
    return status, await reader.readexactly(length)


async def fetch(port: int, request: bytes) -> bytes:
    """One request on a fresh connection; the body of a 200, else a `BenchError`."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        status, body = await read_response(reader)
    finally:
        writer.close()
    if status != 200:
        raise BenchError(f"expected 200, got {status}: {body[:300]!r}")
    return body


# ---- load generation ----


@dataclass
class Budget:
    """Requests still allowed in one run, shared by its connections (one event loop, no lock)."""

    remaining: int

    def take(self) -> bool:
        """Use up one request; False once none are left."""
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass(frozen=True)
class Load:
    """What one run sends and for how long, at most."""

    port: int
    request: bytes
    duration: float
    connections: int
    max_requests: int
    expected: int = 200  # the status a success answers (a create's 201)


@dataclass(frozen=True)
class Sample:
    """What one run measured."""

    latencies: list[float]  # seconds, in the order the responses came
    errors: int
    elapsed: float
    client_cpu: float  # seconds of this process's CPU


async def _connection(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    load: Load,
    deadline: float,
    budget: Budget,
    latencies: list[float],
) -> int:
    """Send requests one after another on one connection until time or budget runs out."""
    reader, writer = streams
    errors = 0
    while time.perf_counter() < deadline and budget.take():
        start = time.perf_counter()
        # One request in flight per connection: the write buffer stays tiny, no drain needed.
        writer.write(load.request)
        status, _ = await read_response(reader)
        latencies.append(time.perf_counter() - start)
        errors += status != load.expected
    return errors


async def run_load(load: Load) -> Sample:
    """Keep `load.connections` connections busy for `load.duration` s or `max_requests`."""
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    latencies: list[float] = []
    budget = Budget(load.max_requests)
    try:
        for _ in range(load.connections):
            streams.append(await asyncio.open_connection(HOST, load.port))
        cpu, start = time.process_time(), time.perf_counter()
        deadline = start + load.duration
        async with asyncio.timeout(load.duration + GRACE):
            errors = await asyncio.gather(
                *(_connection(s, load, deadline, budget, latencies) for s in streams)
            )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    except TimeoutError as error:
        raise BenchError(f"a load run overran its {load.duration} s by {GRACE} s") from error
    except (OSError, EOFError) as error:
        raise BenchError(f"a connection failed during a load run: {error!r}") from error
    finally:
        for _, writer in streams:
            writer.close()
    return Sample(latencies, sum(errors), elapsed, cpu)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(fraction * len(values)) - 1)]
