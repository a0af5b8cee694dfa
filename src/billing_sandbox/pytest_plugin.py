"""The pytest plugin: a sandbox for the test session and a fresh tenant for every test.

Registered as a `pytest11` entry point, so it is loaded by every pytest run in an environment
where billing-sandbox is installed. It therefore only defines options and fixtures: the app
and uvicorn are imported, and the server started, when a test first asks for a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from billing_sandbox.testing import (
        SandboxServer,
        SandboxTenant,
        SandboxTenantFactory,
        ScenarioSource,
    )
    from billing_sandbox.testing.pacts import SessionPacts

SCENARIO_MARKER = "scenario"
# The session's pacts (with --billing-sandbox-pacts), and whether each test's call passed.
_PACTS = pytest.StashKey["SessionPacts | None"]()
_PASSED = pytest.StashKey[bool]()
# What the journal keeps of each body when the session writes pacts: whole answers, so that
# each interaction expects the body the sandbox gave (BILLING_SANDBOX_JOURNAL_BODY_BYTES wins).
_PACT_BODY_BYTES = 1 << 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SCENARIO_MARKER}(name_or_path, ...): apply these scenarios (a pack's name, or a file, "
        "relative to the test's own) to the test's sandbox_tenant before the test runs",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """With --billing-sandbox-pacts, the session's pacts start empty (a bad consumer name ends
    the session at once, in one line)."""
    config = session.config
    config.stash[_PACTS] = None
    folder = _option(config, "billing_sandbox_pacts")
    if folder is None:
        return
    from billing_sandbox.testing.pacts import SessionPacts, check_consumer

    named = _option(config, "billing_sandbox_pact_consumer")
    consumer = named or _folder_consumer(config.rootpath)
    try:
        config.stash[_PACTS] = SessionPacts(check_consumer(consumer))
    except ValueError as error:
        raise pytest.UsageError(f"billing-sandbox: {error}") from None


def _folder_consumer(root: Path) -> str:
    """A consumer name from the project's folder: its letters, digits, '.', '_' and '-'."""
    kept = "".join(c if c.isalnum() or c in "._-" else "-" for c in root.name).strip("-._")
    return kept or "consumer"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Note whether the test itself passed: only a passing test's calls go into the pacts."""
    report = yield
    if call.when == "call":
        item.stash[_PASSED] = bool(getattr(report, "passed", False))
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the session's pacts, a file per provider, when any test's tenant made a call."""
    pacts = session.config.stash.get(_PACTS, None)
    if pacts is None or not pacts.providers:
        return
    folder = Path(str(_option(session.config, "billing_sandbox_pacts")))
    written = pacts.write(folder if folder.is_absolute() else session.config.rootpath / folder)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"billing-sandbox: pacts written: {', '.join(map(str, written))}")


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
    group.addoption(
        "--billing-sandbox-pacts",
        metavar="DIR",
        help="write the calls the tests' tenants made as Pact v4 files into DIR at the end of "
        "the session, one per provider (ini: billing_sandbox_pacts)",
    )
    group.addoption(
        "--billing-sandbox-pact-consumer",
        metavar="NAME",
        help="the consumer the pacts name (ini: billing_sandbox_pact_consumer; default: the "
        "name of the project's root folder)",
    )
    parser.addini("billing_sandbox_url", "base URL of a running sandbox to use", default="")
    parser.addini("billing_sandbox_seed", "seed of the sandbox the plugin starts", default="")
    parser.addini("billing_sandbox_pacts", "folder to write the session's pacts into", default="")
    parser.addini("billing_sandbox_pact_consumer", "the consumer the pacts name", default="")


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
        _check_shared(server, pytestconfig)
        yield server
        return
    if pytestconfig.stash.get(_PACTS, None) is not None and (
        "BILLING_SANDBOX_JOURNAL_BODY_BYTES" not in os.environ
    ):
        settings = replace(settings, journal_body_bytes=_PACT_BODY_BYTES)
    if seed is not None:
        if not seed.lstrip("-").isdigit():
            raise pytest.UsageError(f"billing-sandbox seed must be an integer, not {seed!r}")
        settings = replace(settings, seed=int(seed))
    with serve(settings) as server:
        yield server


def _check_shared(server: SandboxServer, config: pytest.Config) -> None:
    """End the session at once, in one line, when the sandbox at the URL cannot serve it:
    nothing answers there, or its control API refuses our token (a guarded call: health
    answers anyone). A fixture's error would be repeated, traceback and all, by every test."""
    from billing_sandbox.testing import SandboxError

    given = (
        "--billing-sandbox-url"
        if config.getoption("billing_sandbox_url")
        else "the ini's billing_sandbox_url"
    )
    try:
        server.health()
    except SandboxError as error:
        pytest.exit(
            f"billing-sandbox: {error}; start the sandbox there (billing-sandbox serve) or "
            f"correct {given} (without one, the plugin starts a sandbox of its own)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    try:
        server.control.faults.rules()
    except SandboxError as error:
        pytest.exit(
            f"billing-sandbox: {error}; set BILLING_SANDBOX_CONTROL_TOKEN to the token the "
            f"sandbox at {server.url} was started with",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(autouse=True)
def _billing_sandbox_fault_rules(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that uses the sandbox, remove the fault rules it added through the
    fixtures (whole-server rules too): on a shared sandbox they would fault other users'
    requests, and on any they would fault the tests after it. Rules added before the test
    began (by a fixture of a wider scope) stay; so do rules others added. A test that does
    not use the sandbox starts nothing here."""
    if "billing_sandbox" not in request.fixturenames:
        yield
        return
    server: SandboxServer = request.getfixturevalue("billing_sandbox")
    mark = server.added_rules.mark()
    yield
    server.control.faults.remove_added(since=mark)


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

    pacts = request.config.stash.get(_PACTS, None)
    if pacts is not None:
        request.addfinalizer(lambda: _keep_pacts(pacts, made, request))
    return make


def _keep_pacts(
    pacts: SessionPacts, made: dict[str, SandboxTenant], request: pytest.FixtureRequest
) -> None:
    """After a passing test, its tenants' calls go into the session's pacts (read now: the
    journal keeps only the latest requests, and later tests would push these out)."""
    if not request.node.stash.get(_PASSED, False):
        return
    for tenant in made.values():
        pacts.add(tenant.pacts(pacts.consumer), test=request.node.nodeid)


@pytest.fixture
def sandbox_tenant(
    sandbox_tenant_factory: SandboxTenantFactory, request: pytest.FixtureRequest
) -> SandboxTenant:
    """This test's own tenant, with credentials for Candid, Decoda and MYCURE, and its control
    API: `faults`, `clock`, `journal`, `snapshot()`, `apply_scenario(…)`. With
    `@pytest.mark.scenario(…)`, the scenarios it names are applied to it first."""
    tenant = sandbox_tenant_factory("")
    for source in _marked_scenarios(request):
        tenant.apply_scenario(source)
    return tenant


@pytest.fixture(autouse=True)
def _billing_sandbox_scenarios(request: pytest.FixtureRequest) -> None:
    """A test marked with `@pytest.mark.scenario` gets its tenant, scenarios applied, even
    when it asks for it only through `sandbox_tenant_factory("")`."""
    if request.node.get_closest_marker(SCENARIO_MARKER) is not None:
        request.getfixturevalue("sandbox_tenant")


def _marked_scenarios(request: pytest.FixtureRequest) -> list[ScenarioSource]:
    """The scenarios the test's markers name, the outermost marker's first (a module's, a
    class's, then the test's own); a path is taken from the test file's folder when a file
    is there."""
    from billing_sandbox.testing.scenarios import is_pack_name

    markers = list(request.node.iter_markers(SCENARIO_MARKER))
    folder = Path(str(request.node.path)).parent
    sources: list[ScenarioSource] = []
    for marker in reversed(markers):
        if not marker.args or marker.kwargs:
            pytest.fail(
                "@pytest.mark.scenario takes the scenarios to apply, each a pack's name or a "
                'file: @pytest.mark.scenario("decoda-overdue-clinic")',
                pytrace=False,
            )
        for given in marker.args:
            if is_pack_name(given) or not isinstance(given, str | Path):
                sources.append(given)
            else:
                beside = folder / given
                sources.append(beside if beside.is_file() else Path(given))
    return sources
