"""create_app(settings) -> Starlette: builds the sandbox and mounts the APIs and the control API."""

from __future__ import annotations

from starlette.applications import Starlette

from billing_sandbox import control
from billing_sandbox.api import Api
from billing_sandbox.apis import VENDOR_APIS
from billing_sandbox.clock import Clock
from billing_sandbox.routing import build_routes
from billing_sandbox.settings import Settings
from billing_sandbox.spec import Spec
from billing_sandbox.tenancy import Sandbox

CONTROL_API = Api(
    name="sandbox",
    title="Sandbox control",
    spec_file="sandbox-control.yaml",
    handlers=control,
    render_error=control.render_error,
)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    """The whole server. Loads and checks every spec; refuses to start if one has drifted."""
    settings = settings or Settings()
    apis = (*VENDOR_APIS, CONTROL_API)
    specs = {api.name: Spec(settings.specs_dir / api.spec_file) for api in apis}
    sandbox = Sandbox(settings, VENDOR_APIS, specs.values(), clock)
    routes = [route for api in apis for route in build_routes(api, specs[api.name], sandbox)]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
