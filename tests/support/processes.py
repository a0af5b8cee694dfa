"""`billing-sandbox serve` as a real process on a free loopback port, for tests of the CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(*args: str, quiet: bool = True) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`billing-sandbox serve ARGS --port <free>` until the block ends, once it answers: its
    base URL and the process (stdout and stderr piped, as text). `--quiet` unless `quiet` is
    False: a request line per call would fill a pipe nobody reads, and stall the server."""
    port = free_port()
    quieting = ["--quiet"] if quiet else []
    command = [
        sys.executable,
        "-m",
        "billing_sandbox",
        "serve",
        *args,
        *quieting,
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/_sandbox/health")
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        yield base, server
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate(timeout=15)
