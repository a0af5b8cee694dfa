"""create_app(settings) -> Starlette: builds the sandbox and mounts the APIs and the control API."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from billing_sandbox import __version__, control, credentials, scenarios
from billing_sandbox import sandbox as served
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.asgi import cors
from billing_sandbox.asgi.dispatch import RouteTable, SpecRoutesFirst
from billing_sandbox.clock import Clock, Schedule, SystemClock, recurring
from billing_sandbox.control import metrics as control_metrics
from billing_sandbox.control import views
from billing_sandbox.credentials import Credentials
from billing_sandbox.errors import counted
from billing_sandbox.events.courier import Courier, Outbox
from billing_sandbox.observe import requestlog
from billing_sandbox.observe.cause import Tracing
from billing_sandbox.observe.stories import AppliedScenario, flattened
from billing_sandbox.pipeline.replay import CallReplayer
from billing_sandbox.pipeline.routes import build_routes
from billing_sandbox.recordings import Loadable, Recordings, read_recordings
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings, reset_schedule
from billing_sandbox.spec.document import Spec, load_spec
from billing_sandbox.state import persistence
from billing_sandbox.state.spill import SpillDirectory
from billing_sandbox.tenants.tenant import StoreKind, tried
from billing_sandbox.ui import pages as ui_pages
from billing_sandbox.ui import root as ui_root
from billing_sandbox.ui.root import BASE_URL, at_base

log = logging.getLogger("billing_sandbox")

CONTROL_API = control.API
# The control spec also serves what the dashboard reads (`views`), the root page (`GET /`,
# shown like the dashboard) and each API's own sandbox-only actions (its `control` module).
CONTROL_MODULES = (
    views,
    control_metrics,
    ui_root,
    *(api.control for api in VENDOR_APIS if api.control is not None),
)


def about(base: str = "") -> dict[str, Any]:
    """What this server serves: the start banner, the root page and the answer to an unknown
    path all say it. Paths begin with `base` (none by default: behind a proxy or a container's
    port mapping, the base URL is the client's to know)."""
    return {
        "service": "billing-sandbox",
        "version": __version__,
        "apis": [
            {
                "name": api.name,
                "title": api.title,
                "entry": base + api.entry,
                "start": [line.replace("{base}", base) for line in api.start],
                "firstCalls": [line.replace("{base}", base) for line in api.first_calls],
                "spec": {
                    "yaml": f"{base}/_sandbox/openapi/{api.spec_file}",
                    "json": f"{base}/_sandbox/openapi/{api.spec_file.removesuffix('.yaml')}.json",
                },
            }
            for api in VENDOR_APIS
        ],
        "control": {
            "health": f"{base}/_sandbox/health",
            "spec": f"{base}/_sandbox/openapi/{CONTROL_API.spec_file}",
        },
        "dashboard": f"{base}{ui_pages.BASE}/",
    }


async def unknown_path(request: Request, _: Exception) -> Response:
    """A path no API serves: a JSON 404 that says which APIs are here and where their specs
    are (instead of Starlette's text/plain "Not Found")."""
    served: dict[str, Any] = at_base(request.app.state.sandbox.about, "")
    listed = "; ".join(f"{api['title']} at {api['entry']}" for api in served["apis"])
    message = (
        f"no API of this sandbox serves {request.url.path}. It serves {listed}. "
        "Their specs are under /_sandbox/openapi/, and GET / lists them."
    )
    body = {
        "error": "NotFound",
        "message": message,
        "apis": [
            {key: api[key] for key in ("name", "title", "entry", "spec")} for api in served["apis"]
        ],
    }
    return JSONResponse(body, status_code=404)


def spill_directory(settings: Settings) -> Path:
    """Where tenants past `--max-tenants` are spilled: `--state-dir`, or the server's own."""
    if settings.state_dir is not None:
        return settings.state_dir
    return Path(tempfile.gettempdir()) / f"billing-sandbox-{os.getpid()}-tenants"


def _spill_directory(settings: Settings) -> Callable[[Sandbox], SpillDirectory]:
    directory = spill_directory(settings)
    own = settings.state_dir is None
    return lambda sandbox: SpillDirectory(directory, sandbox, remove_when_done=own)


def load_specs(settings: Settings) -> dict[str, Spec]:
    """Every served API's spec, the control API's too, by API name."""
    return {
        api.name: load_spec(settings.specs_dir / api.spec_file)
        for api in (*VENDOR_APIS, CONTROL_API)
    }


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, tracing: Tracing | None = None
) -> Starlette:
    """The whole server. Loads and checks every spec; refuses to start if one has drifted.
    With `tracing` (observe/otel.py's, the `otel` extra), each HTTP request is a span."""
    settings = settings or Settings()
    apis = (*VENDOR_APIS, CONTROL_API)
    specs = load_specs(settings)
    kinds = {api.name: api.store for api in VENDOR_APIS if api.store is not None}
    sandbox = Sandbox(
        settings,
        kinds,
        specs,
        clock,
        about(BASE_URL),  # the root page says it at the base URL each client reached it by
        _credentials(settings),
        _recordings(settings, kinds, specs, clock),
        _spill_directory(settings),
    )
    # The state file's tenants, if one is set and exists, and every change logged since.
    persistence.load(
        sandbox,
        CallReplayer(VENDOR_APIS, sandbox),
        lambda name, store: _outbox(kinds, name, store),
    )
    courier = Courier(sandbox, lambda name, store: _outbox(kinds, name, store))
    spec_routes = [
        route
        for api in apis
        for route in build_routes(
            api, specs[api.name], sandbox, CONTROL_MODULES if api is CONTROL_API else (), courier
        )
    ]
    table = RouteTable(spec_routes)
    routes: list[BaseRoute] = [table]
    # Endpoints beyond the specs' routes (MYCURE's Socket.IO events), each built for this server.
    routes += ui_pages.routes(sandbox, about)
    routes += [
        Mount(api.mount.path, app=api.mount.app(sandbox))
        for api in VENDOR_APIS
        if api.mount is not None
    ]
    # Preflights are answered for every method an operation uses (HEAD goes with GET).
    methods = {op.method for spec in specs.values() for op in spec.operations}
    methods |= {"HEAD"} if "GET" in methods else set()
    app = SandboxApp(
        table,
        tracing,
        routes=routes,
        middleware=[cors.middleware(settings.cors_origins, methods)],
        exception_handlers={404: unknown_path},
        lifespan=_then_traces_sent(_lifespan(sandbox, courier), tracing),
    )
    # A scenario's steps are calls to this very app, as a client's would be.
    sandbox.scenarios = app.state.scenarios = ServedScenarios(app, sandbox, specs)
    app.state.sandbox = sandbox
    app.state.courier = courier
    return app


class SandboxApp(Starlette):
    """Starlette, with the specs' routes reached first. A request one of them serves, from no
    browser (no `Origin`: no CORS to add), goes straight to its route; every other request
    (a browser's, an unknown path, the Socket.IO mount) goes through the middleware as before.
    What the shortcut skips does nothing for the specs' routes, whose wrapper answers every
    error itself, and cost about 14 µs a request: most of a bare Starlette app's own time."""

    def __init__(self, table: RouteTable, tracing: Tracing | None, **options: Any) -> None:
        super().__init__(**options)
        self.table = table
        self.tracing = tracing

    def build_middleware_stack(self) -> ASGIApp:
        stack = SpecRoutesFirst(self.table, super().build_middleware_stack(), cors.from_browser)
        # Outermost, so that a request's span covers all the sandbox does for it.
        return stack if self.tracing is None else self.tracing.wrap(stack)


def _credentials(settings: Settings) -> Credentials | None:
    """Strict mode's credentials file, read once: the only credentials each API accepts."""
    if settings.credentials_file is None:
        return None
    sections = {api.name: api.credentials for api in VENDOR_APIS if api.credentials is not None}
    return credentials.load(settings.credentials_file, sections)


def _recordings(
    settings: Settings, kinds: dict[str, StoreKind], specs: dict[str, Spec], clock: Clock | None
) -> Recordings:
    """The recordings directory's usable exchanges, each tried once at start."""
    if settings.recordings_dir is None:
        return Recordings()
    loadable = {
        name: Loadable(kind.recorded_operations, specs[name])
        for name, kind in kinds.items()
        if kind.load_recorded is not None
    }
    found = read_recordings(settings.recordings_dir, kinds.keys(), loadable)
    return tried(found, settings, kinds, clock or SystemClock())


def _outbox(kinds: dict[str, StoreKind], name: str, store: object) -> Outbox | None:
    kind = kinds.get(name)
    if kind is None or kind.outbox is None:
        return None
    outbox: Outbox = kind.outbox(store)
    return outbox


def _lifespan(
    sandbox: Sandbox, courier: Courier
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """The start scenarios applied (unless `serve` applied them already), then the periodic
    check for due deliveries and the schedule of `--reset-every` while the server runs; at
    shutdown, deliveries in flight stop and the state file is saved."""
    save_at_shutdown = persistence.lifespan(sandbox)

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with save_at_shutdown(app):
            starting: ServedScenarios = app.state.scenarios
            await starting.start()
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(courier.run()), loop.create_task(starting.keep_resetting())]
            if sandbox.traffic is not None:
                # A sample a second puts each request in the second it happened, for the charts.
                tasks.append(loop.create_task(sandbox.traffic.run()))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await courier.close()
                # Before uvicorn raises the signal it caught again, which ends the process.
                requestlog.flush()

    return run


def _then_traces_sent(
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]], tracing: Tracing | None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """`lifespan`, then the spans still buffered sent: after the state file is saved, since an
    exporter that cannot reach its collector waits out its timeout, and must not hold it up."""
    if tracing is None:
        return lifespan

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        try:
            async with lifespan(app):
                yield
        finally:
            tracing.shutdown()

    return run


class ServedScenarios:
    """`sandbox.scenarios`: the packs this server lists and applies (the shipped ones and
    `--scenarios-dir`'s) or a scenario given whole, each step a call to the app itself (the
    engine's `Applier`); and the start scenarios (`--scenario`), applied at start and again
    at each `--reset-every`, each to its tenant reset first."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox, specs: Mapping[str, Spec]) -> None:
        settings = sandbox.settings
        self._app = app
        self._sandbox = sandbox
        self._token = settings.control_token
        self._clock = sandbox.clock
        self._directories = [] if settings.scenarios_dir is None else [settings.scenarios_dir]
        self._applier = scenarios.Applier(app, settings.control_token or None, specs=specs)
        self._entries = settings.scenarios
        self._every = reset_schedule(settings.reset_every)
        # The start scenarios, as read when they were first applied, with their tenants.
        self._started: list[tuple[scenarios.Scenario, str]] | None = None

    def packs(self) -> dict[str, Path]:
        return scenarios.catalogue(self._directories)

    def listed(self) -> list[dict[str, Any]]:
        return [self._pack(name, path) for name, path in self.packs().items()]

    def _pack(self, name: str, path: Path) -> dict[str, Any]:
        own = any(path.parent.resolve() == folder.resolve() for folder in self._directories)
        entry: dict[str, Any] = {
            "name": name,
            "description": "",
            "apis": [],
            "steps": 0,
            "source": "directory" if own else "shipped",
        }
        try:
            scenario = scenarios.load_scenario(path)
        except scenarios.ScenarioInvalid as invalid:
            return {**entry, "problems": [str(problem) for problem in invalid.problems]}
        except OSError as error:
            return {**entry, "problems": [f"{path.name} cannot be read: {error.strerror}"]}
        described = {"description": scenario.description, "apis": list(scenario.apis)}
        return {**entry, **described, "steps": len(scenario.steps)}

    async def apply(
        self, tenant: str, name: str | None, scenario: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        loaded = self._named(name) if name is not None else _loaded(scenario or {})
        return (await self._apply(loaded, tenant)).as_json()

    def _named(self, name: str) -> scenarios.Scenario:
        packs = self.packs()
        if name not in packs:
            listed = ", ".join(packs) or "none"
            raise served.UnknownScenario(
                f"no scenario pack is named {name!r}; the packs are: {listed}",
                {"available": list(packs)},
            )
        return _loaded(packs[name])

    async def _apply(self, scenario: scenarios.Scenario, tenant: str) -> scenarios.Applied:
        """Apply it, and remember it in the tenant's story (with the journal's entries its
        steps made): a pact exported later names it as its interactions' provider state."""
        first = self._sandbox.journal.last_seq
        try:
            applied = await self._applier.apply(scenario, tenant)
        except (scenarios.ScenarioInvalid, scenarios.StepFailed) as refused:
            raise _refusal(refused) from None
        values = flattened(applied.named)
        story = AppliedScenario(scenario.name, first, self._sandbox.journal.last_seq, values)
        self._sandbox.stories.applied(tenant, story)
        return applied

    async def start(self) -> list[str]:
        """Apply each start scenario to its tenant, reset first (once: again, it does nothing);
        what was done, a line each. A `ScenarioRefusal` says which scenario and why. A tenant
        the state file brought back is kept as it is: its writes survive a restart, as every
        tenant's do (`--reset-every` applies the scenario afresh when it falls due)."""
        if self._started is not None:
            return []
        self._started = []
        for entry in self._entries:
            scenario, tenant = self._start_entry(entry)
            self._started.append((scenario, tenant))
        done = []
        for scenario, tenant in self._started:
            if self._sandbox.held(tenant) is not None or tenant in self._sandbox.spilled():
                done.append(f"{scenario.name}: tenant {tenant} kept as the state file holds it")
            else:
                done.append(await self._reset_and_apply(scenario, tenant))
        return done

    def _start_entry(self, entry: str) -> tuple[scenarios.Scenario, str]:
        """`NAME|PATH[@TENANT]`: a pack's name or a scenario file, and the tenant (by
        default the scenario's name). A file whose own name holds an `@` is taken whole."""
        source, at, tenant = entry.rpartition("@")
        if not at or Path(entry).is_file():
            source, tenant = entry, ""
        try:
            scenario = _loaded(Path(source)) if _names_file(source) else self._named(source)
        except served.ScenarioRefusal as refused:
            refused.message = f"scenario {entry}: {refused.message}"
            raise
        return scenario, tenant or scenario.name

    async def _reset_and_apply(self, scenario: scenarios.Scenario, tenant: str) -> str:
        """The tenant reset and the scenario applied, as one: when it fails, a tenant the
        sandbox held is put back as it was before the reset. Through the control API, so
        that a state file's log keeps each change as it keeps any other."""
        path = f"/_sandbox/tenants/{quote(tenant, safe='')}"
        token = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers=token
        ) as client:
            held = (await client.get("/_sandbox/tenants")).json()["tenants"]
            before = None
            if any(summary["id"] == tenant for summary in held):
                before = (await client.get(f"{path}/state")).content
            try:
                reset = await client.post(f"{path}/reset")
                if reset.status_code != 200:
                    raise served.ScenarioRefusal(f"its reset was refused: {reset.text}")
                applied = await self._apply(scenario, tenant)
            except served.ScenarioRefusal as refused:
                if before is not None:
                    await client.put(f"{path}/state", content=before)
                refused.message = f"scenario {scenario.name} on tenant {tenant}: {refused.message}"
                raise
        return f"{scenario.name} applied to tenant {tenant} ({counted(applied.steps, 'step')})"

    async def keep_resetting(
        self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        """With `--reset-every`: at each period or time of day, each start scenario's tenant
        reset and the scenario applied again, so a shared demo starts each day clean and with
        dates relative to it. A scenario that fails is said in the log; the others go on."""
        if self._every is None:
            return
        schedule = Schedule(self._every, self._clock.now())
        await recurring(schedule, self.apply_again, self._clock, sleep)

    async def apply_again(self) -> None:
        for scenario, tenant in self._started or []:
            try:
                log.warning("%s, again", await self._reset_and_apply(scenario, tenant))
            except served.ScenarioRefusal as refused:
                log.error("%s", refused.message)
            except Exception:
                # A sandbox bug: said, and the schedule (and the other scenarios) go on.
                log.exception("scenario %s on tenant %s crashed", scenario.name, tenant)


def _names_file(source: str) -> bool:
    """A start scenario's source names a file (else a pack): a path, or a file's name."""
    return Path(source).suffix in (".yaml", ".yml", ".json") or "/" in source or os.sep in source


def _loaded(source: Path | Mapping[str, Any]) -> scenarios.Scenario:
    try:
        return scenarios.load_scenario(source)
    except scenarios.ScenarioInvalid as invalid:
        raise _refusal(invalid) from None
    except OSError as error:
        raise served.ScenarioInvalid(
            f"{source} cannot be read: {error.strerror}",
            {"problems": [{"location": "", "message": f"cannot be read: {error.strerror}"}]},
        ) from None


def _refusal(error: scenarios.ScenarioInvalid | scenarios.StepFailed) -> served.ScenarioRefusal:
    """The engine's refusal as the control API answers it (its JSON, its message)."""
    body = error.as_json()
    details = {key: value for key, value in body.items() if key not in ("error", "message")}
    if isinstance(error, scenarios.ScenarioInvalid):
        return served.ScenarioInvalid(str(body["message"]), details)
    return served.StepFailed(str(body["message"]), details)
