"""The control client and the plugin run in a project that installs them without their
dependencies (`pip install --no-deps`, beside its own Faker): they import httpx and pytest only."""

from __future__ import annotations

import subprocess
import sys

# What the server needs and a client project may lack.
SERVER_ONLY = (
    "yaml", "starlette", "orjson", "jsonschema_rs", "uvicorn", "jinja2", "socketio_v4",
    "engineio_v3", "redis", "re2",
)  # fmt: skip


def test_the_client_and_the_plugin_import_without_the_servers_dependencies() -> None:
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in SERVER_ONLY)
    code = (
        f"import sys; {blocked}; "
        "import billing_sandbox.testing, billing_sandbox.pytest_plugin; "
        "from billing_sandbox.testing.scenarios import scenario_request; "
        "print(scenario_request('decoda-overdue-clinic'))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "{'name': 'decoda-overdue-clinic'}"
