"""The control API (`/_sandbox`): the descriptor, shaped like an API's. Its handlers, the views the
dashboard reads, and who may call it (loopback with an exact Host, or the control token)."""

from billing_sandbox.api import Api
from billing_sandbox.control import access, handlers

API = Api(
    name="sandbox",
    title="Sandbox control",
    spec_file="sandbox-control.yaml",
    handlers=handlers,
    render_error=handlers.render_error,
    authenticate=access.authenticate,
    operator=True,
)
