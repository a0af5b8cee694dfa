"""Traces are optional: only observe/otel.py imports OpenTelemetry, nothing of it is imported
unless the `OTEL_*` variables ask for traces, and `serve` says in one line what it lacks."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing_sandbox.cli import traces
from billing_sandbox.settings import InvalidSetting, traces_exporters

SRC = Path(__file__).resolve().parents[2] / "src" / "billing_sandbox"


def _imports_opentelemetry(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if any(name.split(".")[0] == "opentelemetry" for name in names):
            return True
    return False


def test_only_observe_otel_imports_opentelemetry() -> None:
    importing = {
        p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if _imports_opentelemetry(p)
    }
    assert importing == {"observe/otel.py"}


def _without_otel_variables() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}


# A request served, then the modules of tracing that were imported, one a line.
SERVE_ONE = """
import asyncio
import sys

import httpx

from billing_sandbox.app import create_app
from billing_sandbox.cli import traces

async def call() -> None:
    app = create_app(tracing=traces.from_environment())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        headers = {"TENANT": "acme", "API-KEY": "k"}
        response = await client.get("/billing/charge/get/chg_sandbox_0001", headers=headers)
        assert response.status_code == 200, response.text

asyncio.run(call())
for name in sorted(sys.modules):
    if name == "billing_sandbox.observe.otel" or name.startswith(TRACING):
        print(name)
"""
# What tracing would import. (redis-py, imported for MYCURE's rooms, imports OpenTelemetry's API
# and its metrics SDK for metrics of its own whenever they are installed: no sign of traces.)
TRACING = (
    "opentelemetry.sdk.trace",
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
)


def _serve_one(before: str = "") -> subprocess.CompletedProcess[str]:
    return _python(f"TRACING = {TRACING!r}\n{before}\n{SERVE_ONE}")


def _python(script: str) -> subprocess.CompletedProcess[str]:
    """`script` run by a fresh interpreter, without any `OTEL_*` variable."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env=_without_otel_variables(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_variables_a_request_imports_nothing_of_tracing() -> None:
    done = _serve_one()
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_without_opentelemetry_installed_the_sandbox_serves() -> None:
    # `None` in sys.modules makes an import fail as a package that is not installed does.
    done = _serve_one('import sys; sys.modules["opentelemetry"] = None')
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_without_the_extra_serve_says_so_in_one_line_and_serves_without_traces() -> None:
    # `None` in sys.modules makes an import fail as a package that is not installed does.
    script = """
import sys
sys.modules["opentelemetry"] = None
from billing_sandbox.cli import traces
assert traces.from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}) is None
"""
    done = _python(script)
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("billing-sandbox: the OTEL_* variables ask for traces")
    assert "billing-sandbox[otel]" in line
    assert line.endswith("serving without traces")


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_SERVICE_NAME": "sandbox"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ("otlp", "console")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_SERVICE_NAME": "s"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_SERVICE_NAME": "s"}, ()),
        ({"OTEL_SERVICE_NAME": "s", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("otlp",)),
    ],
)
def test_the_variables_decide_the_exporters(
    environ: dict[str, str], exporters: tuple[str, ...]
) -> None:
    assert traces_exporters(environ) == exporters


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_SERVICE_NAME": "s", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "_PROTOCOL"),
    ],
)
def test_an_exporter_the_sandbox_cannot_send_with_is_refused_naming_it(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(InvalidSetting, match=named):
        traces_exporters(environ)
    said = io.StringIO()
    assert traces.from_environment(environ, said) is None
    assert said.getvalue().endswith("; serving without traces\n")
