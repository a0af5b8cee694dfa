"""Traces (the `otel` extra): each HTTP request one span of OpenTelemetry's ASGI middleware, named
by its route and given its call's facts; a Decoda webhook carries its cause's `traceparent`."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.cli import traces
from billing_sandbox.clock import ManualClock
from billing_sandbox.observe import otel
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CHARGE, creds
from tests.decoda.hooks import FROZEN, clock, new_patient, register, settled
from tests.support.receiver import receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def app(settings: Settings, clock: ManualClock, spans: InMemorySpanExporter) -> Starlette:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return create_app(settings, clock=clock, tracing=otel.Tracing(provider))


@pytest.fixture(autouse=True)
async def courier_closed(app: Starlette) -> AsyncIterator[None]:
    """The in-process app runs no lifespan: close the courier's HTTP client here."""
    yield
    await app.state.courier.close()


def only(spans: InMemorySpanExporter) -> ReadableSpan:
    [span] = spans.get_finished_spans()
    return span


async def test_a_vendor_request_is_one_span_named_by_its_route_with_its_facts(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(f"/billing/charge/get/{CHARGE}", headers=creds("acme"))
    assert response.status_code == 200
    span = only(spans)
    assert span.name == "GET /billing/charge/get/{id}"  # no record id in the name
    attributes = dict(span.attributes or {})
    assert attributes[otel.API] == "decoda"
    assert attributes[otel.OPERATION_ID] == "getCharge"
    assert attributes[otel.TENANT] == "acme"
    assert attributes[otel.ROUTE] == "/billing/charge/get/{id}"
    assert attributes["http.status_code"] == 200
    assert otel.FAULT not in attributes


async def test_a_fault_the_request_met_is_on_its_span(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    headers = {**creds("acme"), "Prefer": "code=503"}
    response = await client.get(f"/billing/charge/get/{CHARGE}", headers=headers)
    assert response.status_code == 503
    attributes = dict(only(spans).attributes or {})
    assert attributes[otel.FAULT] == "Prefer: code=503"
    assert attributes["http.status_code"] == 503


async def test_a_refused_request_is_a_span_with_its_status(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(f"/billing/charge/get/{CHARGE}")  # no credentials
    assert response.status_code in (401, 403)
    span = only(spans)
    assert span.name == "GET /billing/charge/get/{id}"
    attributes = dict(span.attributes or {})
    assert attributes["http.status_code"] == response.status_code
    assert otel.TENANT not in attributes


async def test_a_control_call_is_a_span_of_the_sandbox_api_naming_its_tenant(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.post("/_sandbox/tenants/acme/clock", json={"freezeAt": FROZEN})
    assert response.status_code == 200
    span = only(spans)
    assert span.name == "POST /_sandbox/tenants/{tenant}/clock"
    attributes = dict(span.attributes or {})
    assert (attributes[otel.API], attributes[otel.TENANT]) == ("sandbox", "acme")


async def test_a_path_no_spec_serves_is_a_span_named_by_its_method_alone(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get("/no/such/path/12345")
    assert response.status_code == 404
    span = only(spans)
    assert span.name == "GET"
    assert otel.API not in dict(span.attributes or {})


async def test_a_webhook_carries_the_traceparent_of_the_request_that_caused_it(
    client: httpx.AsyncClient, app: Starlette, spans: InMemorySpanExporter
) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500,)) as hook:
        await register(client, hook.url, ["PATIENT_CREATED"])
        spans.clear()
        await new_patient(client)
        await settled(app)
        [cause] = [s for s in spans.get_finished_spans() if s.name.startswith("POST")]
        # The retry, 1 s later on the tenant's clock, carries the same cause.
        await clock(client, advanceSeconds=1)
        await settled(app)
        first, retry = hook.wait_for(2)
    context = cause.get_span_context()
    assert context is not None
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert first.headers["traceparent"] == expected
    assert retry.headers["traceparent"] == expected


async def test_without_traces_a_webhook_carries_no_traceparent(
    settings: Settings, clock: ManualClock
) -> None:
    plain = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=plain)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        with receiver() as hook:
            await register(client, hook.url, ["PATIENT_CREATED"])
            await new_patient(client)
            await settled(plain)
            [got] = hook.wait_for(1)
    await plain.state.courier.close()
    assert "traceparent" not in got.headers


async def test_settings_the_sdk_refuses_are_said_in_one_line_and_served_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK reads these itself, from the process's environment, and refuses a negative delay.
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing-sandbox")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "-5")
    said = io.StringIO()
    assert traces.from_environment({"OTEL_SERVICE_NAME": "billing-sandbox"}, said) is None
    [line] = said.getvalue().splitlines()
    assert "OpenTelemetry refused its OTEL_* settings" in line
    assert "serving without traces" in line


async def test_a_query_a_secret_may_be_in_reaches_no_span_unredacted(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    secret = "s3cret-never-exported"
    await client.get(f"/billing/charge/list?access_token={secret}", headers=creds("acme"))
    await client.get(f"/nowhere?api_key={secret}")
    exported = [dict(span.attributes or {}) for span in spans.get_finished_spans()]
    assert len(exported) == 2
    assert all(secret not in str(value) for attributes in exported for value in attributes.values())
    assert any("access_token=" in str(value) for value in exported[0].values())
