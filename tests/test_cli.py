"""`billing-sandbox serve`: binds loopback by default, prints a banner, serves seeded data."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from billing_sandbox.cli import banner
from billing_sandbox.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_banner_names_apis_credentials_specs_and_control() -> None:
    text = banner(Settings(port=8123))
    for expected in (
        "http://127.0.0.1:8123",
        "/api/write-offs/v1",
        "/api/auth/v2/token",
        '"client_id": "acme"',
        "/_sandbox/openapi/candid-write-offs.yaml",
        "/_sandbox/health",
        "/billing/charge/list",
        "TENANT: acme",
        "/billing-soas",
        "/authentication",
        "mycure-billing-soas.yaml",
        "/reference/mycure",
    ):
        assert expected in text


def test_serve_binds_loopback_and_serves_seeded_data() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "billing_sandbox",
        "serve",
        "--port",
        str(port),
        "--records",
        "50",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline()
        assert first_line.startswith(f"billing-sandbox serving on http://127.0.0.1:{port}")
        deadline = time.monotonic() + 15
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_sandbox/health")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert health.json()["status"] == "ok"
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/v2/token",
            json={"client_id": "cli", "client_secret": "s"},
        ).json()["access_token"]
        page = httpx.get(
            f"http://127.0.0.1:{port}/api/write-offs/v1?limit=999",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert len(page["items"]) == 50
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
