"""The pytest plugin: a sandbox for the test session and a fresh tenant for every test.

Registered as a `pytest11` entry point, so it is loaded by every pytest run in an environment
where billing-sandbox is installed. It therefore only defines options and fixtures: the app
and uvicorn are imported, and the server started, when a test first asks for a fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from billing_sandbox.testing import SandboxServer, SandboxTenant, SandboxTenantFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--billing-sandbox-url` and `--billing-sandbox-seed`, and their ini twins."""
    group = parser.getgroup("billing-sandbox", "billing-sandbox fixtures")
    group.addoption(
        "--billing-sandbox-url",
        metavar="URL",
        help="use the sandbox already serving at URL instead of starting one "
        "(ini: billing_sandbox_url)",
    )
    group.addoption(
        "--billing-sandbox-seed",
        metavar="N",
        help="seed of the sandbox the plugin starts (ini: billing_sandbox_seed; "
        "default: BILLING_SANDBOX_SEED, else 0)",
    )
    parser.addini("billing_sandbox_url", "base URL of a running sandbox to use", default="")
    parser.addini("billing_sandbox_seed", "seed of the sandbox the plugin starts", default="")


def _option(config: pytest.Config, name: str) -> str | None:
    """The command line wins over the ini file; an empty value is no value."""
    value = config.getoption(name) or config.getini(name)
    return str(value) if value else None


@pytest.fixture(scope="session")
def billing_sandbox(pytestconfig: pytest.Config) -> Iterator[SandboxServer]:
    """The sandbox for this session: started on a free loopback port, or the one at
    `--billing-sandbox-url`; `.control` is its control API. Other settings come from
    `BILLING_SANDBOX_*` variables, as for `billing-sandbox serve`."""
    from billing_sandbox.settings import Settings
    from billing_sandbox.testing import SandboxServer, serve

    settings = Settings.from_env()
    url = _option(pytestconfig, "billing_sandbox_url")
    seed = _option(pytestconfig, "billing_sandbox_seed")
    if url is not None:
        if seed is not None:
            raise pytest.UsageError(
                "--billing-sandbox-seed seeds a sandbox the plugin starts; "
                "the one at --billing-sandbox-url was seeded when it started"
            )
        # The control token is read as the server reads it: one variable set for both suffices.
        server = SandboxServer(url.rstrip("/"), control_token=settings.control_token)
        # Fail once, here, rather than in every test: when nothing answers at the URL, and
        # when the control API refuses our token (a guarded call: health answers anyone).
        server.health()
        server.control.faults.rules()
        yield server
        return
    if seed is not None:
        if not seed.lstrip("-").isdigit():
            raise pytest.UsageError(f"billing-sandbox seed must be an integer, not {seed!r}")
        settings = replace(settings, seed=int(seed))
    with serve(settings) as server:
        yield server


@pytest.fixture
def sandbox_tenant_factory(
    billing_sandbox: SandboxServer, request: pytest.FixtureRequest
) -> SandboxTenantFactory:
    """Make more tenants for this test: `sandbox_tenant_factory("b")`. Each name gives a
    tenant unique to the test, emptied when first asked for (records, fault rules, journal
    entries); asking again gives the same one."""
    from billing_sandbox.testing import tenant_id

    made: dict[str, SandboxTenant] = {}

    def make(name: str) -> SandboxTenant:
        if name not in made:
            tenant = billing_sandbox.tenant(tenant_id(request.node.nodeid, name))
            # The id is the same on every run: a sandbox that outlives the run (one given by
            # --billing-sandbox-url) would otherwise show this test what its last run left,
            # and fault it with the rules it left, and `journal.wait_for` its old requests.
            tenant.reset()
            tenant.faults.clear()
            tenant.journal.clear()
            made[name] = tenant
        return made[name]

    return make


@pytest.fixture
def sandbox_tenant(sandbox_tenant_factory: SandboxTenantFactory) -> SandboxTenant:
    """This test's own tenant, with credentials for Candid, Decoda and MYCURE, and its control
    API: `faults`, `clock`, `journal`, `snapshot()`."""
    return sandbox_tenant_factory("")
