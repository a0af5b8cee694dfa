"""`billing-sandbox serve`: binds loopback by default, prints a banner, serves seeded data."""

from __future__ import annotations

import io
import sys

import httpx
import pytest

from billing_sandbox import cli
from billing_sandbox.cli import serve
from billing_sandbox.cli.banner import banner
from billing_sandbox.settings import Settings
from tests.support.processes import serving


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
    with serving("--records", "50") as (base, server):
        assert server.stdout is not None
        first_line = server.stdout.readline()
        assert first_line.startswith(f"billing-sandbox serving on {base}")
        health = httpx.get(f"{base}/_sandbox/health")
        assert health.json()["status"] == "ok"
        token = httpx.post(
            f"{base}/api/auth/v2/token", json={"client_id": "cli", "client_secret": "s"}
        ).json()["access_token"]
        page = httpx.get(
            f"{base}/api/write-offs/v1?limit=999", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert len(page["items"]) == 50


def test_request_lines_go_to_stderr_itself_when_it_is_no_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Embedded in a program whose stderr is a stream without a descriptor, serve still logs."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    assert serve._log_stream() is stream


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BILLING_SANDBOX_PORT", "eighty", "BILLING_SANDBOX_PORT must be a whole number"),
        ("BILLING_SANDBOX_WEBHOOK_HOSTS", "any", "'any' is no longer accepted"),
    ],
)
def test_an_unusable_setting_from_the_environment_exits_2_saying_which(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    says: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main(["serve"]) == 2
    error = capsys.readouterr().err
    assert says in error
    assert "Traceback" not in error
