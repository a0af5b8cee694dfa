"""The control API's view of the server's metrics: Prometheus's scrape (`GET /_sandbox/metrics`)."""

from __future__ import annotations

from starlette.responses import Response

from billing_sandbox.api import Call
from billing_sandbox.errors import ApiError
from billing_sandbox.observe.metrics import CONTENT_TYPE, Metrics
from billing_sandbox.sandbox import Sandbox


class MetricsOff(ApiError):
    status = 404

    def __init__(self) -> None:
        super().__init__(
            "metrics are off on this server (serve --no-metrics, or "
            "BILLING_SANDBOX_METRICS=false): start it without that to scrape them"
        )


def metrics_of(sandbox: Sandbox) -> Metrics:
    if sandbox.metrics is None:
        raise MetricsOff()
    return sandbox.metrics


async def get_metrics(call: Call[None]) -> Response:
    """Every metric in Prometheus's text format (0.0.4, which Prometheus and promtool read)."""
    return Response(metrics_of(call.sandbox).exposition(), media_type=CONTENT_TYPE)
