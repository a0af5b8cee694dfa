"""Traces (the `otel` extra): each HTTP request a span of OpenTelemetry's own ASGI middleware,
named by its operation's route and given the facts of its call. The only module that imports
OpenTelemetry, and imported only when traces are asked for (settings.traces_exporters)."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.http import get_excluded_urls, sanitize_method
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billing_sandbox import __version__
from billing_sandbox.observe import redaction
from billing_sandbox.observe.cause import CAUSE, SPAN_FACTS

# The span attributes of a call, beside the middleware's own (method, status, URL): the API
# (`decoda`, `sandbox` for the control API), the spec's operationId, the fault the call met
# (`Prefer` or a fault rule) and the tenant its credentials chose.
API = "billing_sandbox.api"
OPERATION_ID = "billing_sandbox.operation_id"
FAULT = "billing_sandbox.fault"
TENANT = "billing_sandbox.tenant"
# The route template, as OpenTelemetry's HTTP conventions name it.
ROUTE = "http.route"

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """Traces for an app, to `provider`'s processors; `shutdown` sends what they still hold."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def wrap(self, app: ASGIApp) -> ASGIApp:
        traced = OpenTelemetryMiddleware(
            _Described(app),
            # OpenTelemetry's own variable for paths left untraced (a scraper's, say):
            # OTEL_PYTHON_ASGI_EXCLUDED_URLS or OTEL_PYTHON_EXCLUDED_URLS.
            excluded_urls=get_excluded_urls("ASGI"),
            # Named by the method until the route is known: a raw path holds record ids, and
            # a span name must tell a kind of request, not one request.
            default_span_details=_method_only,
            tracer_provider=self.provider,
            # A span for each ASGI message would bury the request's own.
            exclude_spans=["receive", "send"],
        )
        return _HttpOnly(traced, app)

    def shutdown(self) -> None:
        self.provider.shutdown()


def from_environment(exporters: tuple[str, ...]) -> Tracing:
    """Traces as `serve` sends them: to each of `exporters` (`otlp`, `console`) in batches, the
    SDK and the exporters reading the rest of their `OTEL_*` variables themselves."""
    provider = TracerProvider(resource=_resource())
    try:
        for name in exporters:
            exporter: SpanExporter = OTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()
            provider.add_span_processor(BatchSpanProcessor(exporter))
    except ValueError:
        # A variable the SDK refuses (`OTEL_BSP_SCHEDULE_DELAY=-5`): the processors made so far
        # are stopped, and the caller says why.
        provider.shutdown()
        raise
    return Tracing(provider)


def _resource() -> Resource:
    """The service as `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` say, else
    `billing-sandbox` at this version (the SDK's fallback, `unknown_service`, says nothing)."""
    detected = Resource.create()
    said = {
        key: value
        for key, value in detected.attributes.items()
        if not (key == "service.name" and str(value).startswith("unknown_service"))
    }
    ours = Resource({"service.name": "billing-sandbox", "service.version": __version__})
    return ours.merge(Resource(said, detected.schema_url))


def _method_only(scope: Scope) -> tuple[str, dict[str, Any]]:
    method = sanitize_method(str(scope.get("method", "")).strip())
    return ("HTTP" if method == "_OTHER" else method), {}


class _HttpOnly:
    """HTTP requests traced; a WebSocket (MYCURE's Socket.IO) and the lifespan not: a span
    that lasts as long as a socket is open tells nothing of a request."""

    def __init__(self, traced: ASGIApp, plain: ASGIApp) -> None:
        self.traced = traced
        self.plain = plain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.traced if scope["type"] == "http" else self.plain
        await app(scope, receive, send)


class _Described:
    """Inside the middleware's span: the span's `traceparent` made the cause of what the
    request sets off (its events' webhooks carry it), and the facts the request path noted
    (`cause.note`) set on the span as the response starts. Not later: the middleware ends the
    span as the body is sent, and an ended span takes no attribute."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        _redact_query(span, scope)
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        facts: dict[str, Any] = {}
        scope[SPAN_FACTS] = facts

        started = False

        async def described(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _describe(span, scope, facts)
            await send(message)

        token = CAUSE.set(carrier.get("traceparent"))
        try:
            await self.app(scope, receive, described)
        finally:
            CAUSE.reset(token)
            if not started:
                _describe(span, scope, facts)  # no answer at all (a dropped connection)


# The attributes in which the middleware puts the request's URL or query, by either
# generation of OpenTelemetry's HTTP conventions (`OTEL_SEMCONV_STABILITY_OPT_IN`).
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def _redact_query(span: trace.Span, scope: Scope) -> None:
    """A secret a client put in the query (`?access_token=…`) leaves in no span: the URL
    attributes get the query as the journal keeps it, redacted."""
    raw = scope.get("query_string", b"").decode("latin-1")
    if not raw or not span.is_recording():
        return
    safe = redaction.query(raw)
    if safe == raw:
        return
    attributes = getattr(span, "attributes", None) or {}
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and raw in value:
            span.set_attribute(name, value.replace(raw, safe))


def _describe(span: trace.Span, scope: Scope, facts: dict[str, Any]) -> None:
    route = facts.get("route")
    if route is None or not span.is_recording():
        return  # no operation of a spec answered (a dashboard page, an unknown path)
    method = _method_only(scope)[0]
    span.update_name(f"{method} {route}")
    span.set_attribute(ROUTE, route)
    span.set_attribute(API, facts["api"])
    span.set_attribute(OPERATION_ID, facts["operation_id"])
    if facts["tenant"] is not None:
        span.set_attribute(TENANT, facts["tenant"])
    if facts["fault"] is not None:
        span.set_attribute(FAULT, facts["fault"])
