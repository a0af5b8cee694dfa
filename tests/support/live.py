"""A real uvicorn server on a free loopback port, in a background thread, for SDK tests.

The server itself lives in `billing_sandbox.testing` (the pytest plugin uses it too); this
keeps the URL-only form the conformance tests use, with default settings (no environment).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from billing_sandbox.settings import Settings
from billing_sandbox.testing import serve


@contextmanager
def live_server(settings: Settings | None = None) -> Iterator[str]:
    """Serve the sandbox until the block ends; yields its base URL."""
    with serve(settings or Settings()) as server:
        yield server.url
