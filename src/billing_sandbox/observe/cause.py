"""What the request path hands to tracing, without importing OpenTelemetry: the W3C
`traceparent` of the request being served (the cause its events' webhooks carry), and the
facts of the call that its span is given (observe/otel.py reads both)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

from starlette.types import ASGIApp, Scope

# The `traceparent` of the span of the request being served; None when nothing traces (a
# plain `serve`, a replay of the state's log at start). Set around each traced request, so
# a store that makes an event reads its cause here without being handed it.
CAUSE: ContextVar[str | None] = ContextVar("billing_sandbox_cause", default=None)

# The scope key under which a traced request holds a dict for the facts of its call (its API,
# operationId, route, tenant, fault); absent when nothing traces, so recording them costs a
# lookup and nothing more.
SPAN_FACTS = "billing_sandbox.span_facts"


class Tracing(Protocol):
    """Traces for an app (observe/otel.py's `Tracing`): what `create_app` is given."""

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """`app`, with each HTTP request a span."""

    def shutdown(self) -> None:
        """Send what is still buffered, and stop (at the end of the app's lifespan)."""


def note(
    scope: Scope, api: str, operation_id: str, route: str, tenant: str | None, fault: str | None
) -> None:
    """Give the request's span the facts of its call, when the request is traced."""
    held: dict[str, Any] | None = scope.get(SPAN_FACTS)
    if held is not None:
        held.update(api=api, operation_id=operation_id, route=route, tenant=tenant, fault=fault)
