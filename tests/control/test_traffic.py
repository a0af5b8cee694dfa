"""`GET /_sandbox/traffic`: the last minutes of vendor requests, second by second, as the
dashboard's charts read them (response validation checks each answer against the spec)."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.observe.metrics import REQUEST_BUCKETS
from billing_sandbox.observe.traffic import Traffic
from billing_sandbox.settings import Settings

pytestmark = pytest.mark.anyio

DECODA = {"TENANT": "acme", "API-KEY": "any"}


class Now:
    def __init__(self) -> None:
        self.at = 5000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def now(app: Starlette) -> Now:
    """The server's monotonic clock, moved by hand: the app's sampler reads this one."""
    moved = Now()
    sandbox = app.state.sandbox
    sandbox.traffic = Traffic(sandbox.metrics, moved)
    return moved


async def test_every_served_api_is_listed_before_any_traffic(
    client: httpx.AsyncClient, now: Now
) -> None:
    answer = await client.get("/_sandbox/traffic")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "minutes": 5,
        "bucketBounds": list(REQUEST_BUCKETS),
        "apis": {"candid": [], "decoda": [], "mycure": []},
    }


async def test_requests_failures_and_durations_by_second(
    client: httpx.AsyncClient, now: Now
) -> None:
    for _ in range(3):
        assert (await client.get("/billing/charge/list", headers=DECODA)).status_code == 200
    await client.get("/_sandbox/traffic")  # a sample: these three are in this second
    now.at += 4
    bad = await client.get("/billing/charge/list?status=NOPE", headers=DECODA)
    assert bad.status_code == 422
    await client.get("/billing/charge/list", headers={"TENANT": "acme"})  # no key: auth
    answer = (await client.get("/_sandbox/traffic?minutes=1")).json()
    decoda = answer["apis"]["decoda"]
    assert [(s["ago"], s["requests"], s["failures"]) for s in decoda] == [(4, 3, 0), (0, 2, 2)]
    for second in decoda:
        assert len(second["buckets"]) == len(REQUEST_BUCKETS) + 1
        assert sum(second["buckets"]) == second["requests"]
    assert answer["apis"]["candid"] == [] and answer["minutes"] == 1


async def test_minutes_says_how_far_back(client: httpx.AsyncClient, now: Now) -> None:
    await client.get("/billing/charge/list", headers=DECODA)
    await client.get("/_sandbox/traffic")
    now.at += 90
    assert (await client.get("/_sandbox/traffic?minutes=1")).json()["apis"]["decoda"] == []
    seconds = (await client.get("/_sandbox/traffic?minutes=2")).json()["apis"]["decoda"]
    assert [s["ago"] for s in seconds] == [90]


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        ("0", "minutes: 0 is less than the minimum of 1"),
        ("11", "minutes: 11 is greater than the maximum of 10"),
        ("soon", 'minutes: "soon" is not of type "integer"'),
    ],
)
async def test_minutes_out_of_bounds_is_422(
    client: httpx.AsyncClient, minutes: str, message: str
) -> None:
    answer = await client.get(f"/_sandbox/traffic?minutes={minutes}")
    assert answer.status_code == 422
    assert answer.json() == {"error": "ValidationFailed", "message": message}


class TestMetricsOff:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(metrics=False)

    async def test_traffic_is_404_saying_metrics_are_off(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/_sandbox/traffic")
        assert answer.status_code == 404
        assert answer.json()["error"] == "MetricsOff"
        assert "metrics are off on this server (serve --no-metrics" in answer.json()["message"]
