"""The control API's view of the server's metrics: Prometheus's scrape (`GET /_sandbox/metrics`)
and the last minutes of traffic, second by second, that the dashboard charts
(`GET /_sandbox/traffic`)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from billing_sandbox.api import Call
from billing_sandbox.errors import ApiError
from billing_sandbox.observe.metrics import CONTENT_TYPE, REQUEST_BUCKETS, Metrics
from billing_sandbox.observe.traffic import Traffic
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


def traffic_of(sandbox: Sandbox) -> Traffic:
    if sandbox.traffic is None:
        raise MetricsOff()
    return sandbox.traffic


async def get_traffic(call: Call[None]) -> dict[str, Any]:
    """Each vendor API's requests, failures and duration buckets, second by second, over the
    last `minutes`: only the seconds that saw requests, as how many seconds ago they were."""
    minutes: int = call.query["minutes"]
    # Every API served, traffic or not, so a chart is drawn for each from the first read.
    apis: dict[str, list[dict[str, Any]]] = {name: [] for name in call.sandbox.kinds}
    for ago, added in traffic_of(call.sandbox).last(minutes * 60):
        for api, second in added.items():
            apis.setdefault(api, []).append(
                {
                    "ago": ago,
                    "requests": second.requests,
                    "failures": second.failures,
                    "buckets": list(second.buckets),
                }
            )
    return {"minutes": minutes, "bucketBounds": list(REQUEST_BUCKETS), "apis": apis}
