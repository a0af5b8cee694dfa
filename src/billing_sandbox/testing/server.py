"""A sandbox for tests: one served in a background thread, or one already running at a URL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from billing_sandbox.settings import Settings
from billing_sandbox.testing.control import SandboxControl
from billing_sandbox.testing.faults import AddedRules
from billing_sandbox.testing.http import SandboxError
from billing_sandbox.testing.tenants import SandboxTenant

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SandboxServer:
    """A running sandbox: its base URL, its `control` API and, when this process serves it,
    its settings."""

    url: str
    settings: Settings | None = None
    # Sent to the control API when set: `BILLING_SANDBOX_CONTROL_TOKEN`, as the server reads it.
    control_token: str = field(default="", repr=False)
    # The fault rules added through `control` and the tenants made here, whole-server rules
    # included: the pytest plugin removes those a test added after it.
    added_rules: AddedRules = field(default_factory=AddedRules, repr=False, compare=False)

    @cached_property
    def control(self) -> SandboxControl:
        """The control API of the whole server: faults, journal, clocks, snapshots, resets."""
        return SandboxControl(self.url, self.control_token, added_rules=self.added_rules)

    def tenant(self, tenant_id: str) -> SandboxTenant:
        """The tenant `tenant_id` of this sandbox, as it is (see `SandboxTenant.reset`)."""
        return SandboxTenant(
            tenant_id, self.url, control_token=self.control_token, added_rules=self.added_rules
        )

    def health(self) -> dict[str, Any]:
        """`GET /_sandbox/health`; raises `SandboxError` when nothing answers."""
        return self.control.health()


@contextmanager
def serve(settings: Settings | None = None) -> Iterator[SandboxServer]:
    """Serve the sandbox on a free loopback port, in a background thread, until the block ends."""
    # Imported here: a project that uses a sandbox already running (`--billing-sandbox-url`)
    # needs none of the server's dependencies, Faker's exact pin among them.
    import uvicorn

    from billing_sandbox.app import create_app

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Binding port 0 here, not in uvicorn, tells us the port before the server starts.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
        settings = replace(settings or Settings(), host=LOOPBACK, port=port)
        # log_config=None: a plugin must not reconfigure the logging of the project under test;
        # uvicorn's own loggers then propagate to the root logger, which pytest captures.
        # lifespan="on": the app's lifespan runs the periodic check that sends webhook retries
        # as a running tenant clock reaches them, as `billing-sandbox serve` does.
        # http=: each request gets its connection, for the faults below HTTP (a reset, a cut).
        from billing_sandbox.asgi.protocol import ConnectionAwareProtocol

        config = uvicorn.Config(
            create_app(settings),
            log_config=None,
            log_level="warning",
            lifespan="on",
            http=ConnectionAwareProtocol,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="billing-sandbox", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise SandboxError(
                        f"the sandbox did not start within {START_TIMEOUT_SECONDS} s"
                    )
                time.sleep(0.01)
            yield SandboxServer(f"http://{LOOPBACK}:{port}", settings, settings.control_token)
        finally:
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT_SECONDS)
