"""create_app(settings) -> Starlette: builds the sandbox and mounts the APIs and the control API."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from billing_sandbox import __version__, control, credentials
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.asgi import cors
from billing_sandbox.asgi.dispatch import RouteTable, SpecRoutesFirst
from billing_sandbox.clock import Clock, SystemClock
from billing_sandbox.control import views
from billing_sandbox.credentials import Credentials
from billing_sandbox.events.courier import Courier, Outbox
from billing_sandbox.observe import requestlog
from billing_sandbox.pipeline.replay import CallReplayer
from billing_sandbox.pipeline.routes import build_routes
from billing_sandbox.recordings import Loadable, Recordings, read_recordings
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.spec.document import Spec, load_spec
from billing_sandbox.state import persistence
from billing_sandbox.state.spill import SpillDirectory
from billing_sandbox.tenants.tenant import StoreKind, tried
from billing_sandbox.ui import pages as ui_pages
from billing_sandbox.ui import root as ui_root
from billing_sandbox.ui.root import BASE_URL, at_base

CONTROL_API = control.API
# The control spec also serves what the dashboard reads (`views`), the root page (`GET /`,
# shown like the dashboard) and each API's own sandbox-only actions (its `control` module).
CONTROL_MODULES = (
    views,
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


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    """The whole server. Loads and checks every spec; refuses to start if one has drifted."""
    settings = settings or Settings()
    apis = (*VENDOR_APIS, CONTROL_API)
    specs = {api.name: load_spec(settings.specs_dir / api.spec_file) for api in apis}
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
        routes=routes,
        middleware=[cors.middleware(settings.cors_origins, methods)],
        exception_handlers={404: unknown_path},
        lifespan=_lifespan(sandbox, courier),
    )
    app.state.sandbox = sandbox
    app.state.courier = courier
    return app


class SandboxApp(Starlette):
    """Starlette, with the specs' routes reached first. A request one of them serves, from no
    browser (no `Origin`: no CORS to add), goes straight to its route; every other request
    (a browser's, an unknown path, the Socket.IO mount) goes through the middleware as before.
    What the shortcut skips does nothing for the specs' routes, whose wrapper answers every
    error itself, and cost about 14 µs a request: most of a bare Starlette app's own time."""

    def __init__(self, table: RouteTable, **options: Any) -> None:
        super().__init__(**options)
        self.table = table

    def build_middleware_stack(self) -> ASGIApp:
        return SpecRoutesFirst(self.table, super().build_middleware_stack(), cors.from_browser)


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
    """The periodic check for due deliveries while the server runs; at shutdown, deliveries
    in flight stop and the state file is saved."""
    save_at_shutdown = persistence.lifespan(sandbox)

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with save_at_shutdown(app):
            checking = asyncio.get_running_loop().create_task(courier.run())
            try:
                yield
            finally:
                checking.cancel()
                await asyncio.gather(checking, return_exceptions=True)
                await courier.close()
                # Before uvicorn raises the signal it caught again, which ends the process.
                requestlog.flush()

    return run
