"""The servers under load (the sandbox, or the ceiling app), each a uvicorn subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from loadgen import HOST, BenchError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings

LIST_PATH = "/api/write-offs/v1"
JSON = "application/json"
BY_ID_FILE = "by_id.json"
LIST_FILE = "list.json"
STARTUP_TIMEOUT = 60.0  # seconds for a server to start listening
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    """A port that was free on the loopback interface a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, from /proc (None where there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class Server:
    """A running server subprocess."""

    name: str
    port: int
    pid: int


def _wait_until_listening(process: subprocess.Popen[bytes], port: int) -> None:
    """Return once `port` accepts connections; fail if the server dies or takes too long."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server exited with status {process.returncode} before listening")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"server did not listen on {HOST}:{port} within {STARTUP_TIMEOUT} s")


def split_cpus() -> tuple[set[int], set[int]] | None:
    """CPUs for the client and for the server: disjoint halves, or None if they cannot be."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


@contextmanager
def running(name: str, kind: str, arg: str, cpus: set[int] | None) -> Iterator[Server]:
    """Start `servers.py KIND ARG PORT` and stop it afterwards, whatever happens."""
    port = free_port()
    # This file is the subprocess's script, so bench/ is on its sys.path and `loadgen` imports.
    command = [sys.executable, str(Path(__file__).resolve()), kind, arg, str(port)]
    process = subprocess.Popen(command)
    try:
        if cpus is not None:
            os.sched_setaffinity(process.pid, cpus)
        _wait_until_listening(process, port)
        yield Server(name, port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ceiling_app(by_id: bytes, page: bytes) -> Starlette:
    """A bare Starlette app answering the sandbox's paths with fixed bytes: the ceiling."""

    async def one(request: Request) -> Response:
        """Any write-off id: the one write-off the sandbox returned."""
        return Response(by_id, media_type=JSON)

    async def many(request: Request) -> Response:
        """Any list query: the first page the sandbox returned."""
        return Response(page, media_type=JSON)

    return Starlette(routes=[Route(LIST_PATH, many), Route(LIST_PATH + "/{write_off_id}", one)])


def serve(argv: Sequence[str]) -> None:
    """Server side: `sandbox RECORDS PORT` or `ceiling BODIES_DIR PORT`."""
    kind, arg, port = argv
    if kind == "sandbox":
        app = create_app(Settings(host=HOST, port=int(port), records=int(arg), seed=0))
    elif kind == "ceiling":
        bodies = Path(arg)
        app = ceiling_app((bodies / BY_ID_FILE).read_bytes(), (bodies / LIST_FILE).read_bytes())
    else:
        raise BenchError(f"unknown server kind {kind!r}")
    uvicorn.run(
        app, host=HOST, port=int(port), log_level="warning", loop="uvloop", http="httptools"
    )


if __name__ == "__main__":
    serve(sys.argv[1:])
