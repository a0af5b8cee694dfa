"""The metrics Prometheus scrapes: what each request counts as, what the server holds, and the
exposition itself (one registry per app, no tenant in any label, the shard's label)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from billing_sandbox.faults.rules import injected_error
from billing_sandbox.observe.metrics import Buckets, Metrics, cause_of, status_class
from billing_sandbox.settings import InvalidSetting, Settings

pytestmark = pytest.mark.anyio

TENANT = "tenant-name-never-a-label"
DECODA = {"TENANT": TENANT, "API-KEY": "k"}


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def requests_counted(text: str, **labels: str) -> float:
    """The sum of `billing_sandbox_requests_total` over the series matching `labels`."""
    return sum(
        value
        for name, found, value in samples(text)
        if name == "billing_sandbox_requests_total"
        and all(found.get(key) == wanted for key, wanted in labels.items())
    )


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/_sandbox/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def injected(status: int) -> ApiError:
    return injected_error(status, "injected")


@pytest.mark.parametrize(
    ("problem", "faulted", "status", "cause"),
    [
        (None, False, 200, "none"),
        (None, False, 304, "none"),
        (None, True, 200, "fault"),  # a 200 the client cannot read (malformed, cut short)
        (None, True, 0, "fault"),  # dropped, reset, silent
        (injected(429), False, 429, "fault"),  # an injected 429 is the fault's, first
        (injected(503), False, 503, "fault"),
        (RateLimited("slow down", 3, {}), False, 429, "rate_limit"),
        (Unauthenticated("who?"), False, 401, "auth"),
        (Forbidden("not yours"), False, 403, "auth"),
        (ValidationFailed([]), False, 422, "validation"),
        (BadRequest("not JSON"), False, 400, "validation"),
        (NotFound("charge", "x"), False, 404, "other"),
        (None, False, 500, "other"),
    ],
)
def test_each_answer_has_one_cause(
    problem: ApiError | None, faulted: bool, status: int, cause: str
) -> None:
    assert cause_of(problem, faulted, status) == cause


def test_status_classes() -> None:
    assert [status_class(s) for s in (0, 200, 302, 404, 503)] == [
        "none", "2xx", "3xx", "4xx", "5xx"
    ]  # fmt: skip


def test_a_histogram_counts_each_value_in_the_first_bucket_that_holds_it() -> None:
    buckets = Buckets((0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 2.0):
        buckets.observe(value)
    assert buckets.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert buckets.total == pytest.approx(2.65)


def test_an_undeclared_counter_is_refused() -> None:
    with pytest.raises(KeyError):
        Metrics().count("requets_misspelt")


async def test_requests_are_counted_by_api_operation_status_class_and_cause(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/billing/charge/list", headers=DECODA)).status_code == 200
    assert (await client.get("/billing/charge/list", headers=DECODA)).status_code == 200
    assert (await client.get("/billing/charge/list")).status_code == 401
    assert (await client.get("/billing/charge/get/nope", headers=DECODA)).status_code == 404
    text = await scrape(client)
    ok = {"api": "decoda", "operation": "listCharges", "status_class": "2xx", "cause": "none"}
    assert requests_counted(text, **ok) == 2
    assert requests_counted(text, operation="listCharges", cause="auth", status_class="4xx") == 1
    assert requests_counted(text, operation="getCharge", cause="other") == 1
    # The control API's own requests (this scrape included) are not counted.
    assert requests_counted(text, api="control") == 0
    assert requests_counted(text) == 4
    count = [v for n, labels, v in samples(text)
             if n == "billing_sandbox_request_duration_seconds_count"
             and labels["operation"] == "listCharges"]  # fmt: skip
    assert count == [3]


async def test_no_label_carries_a_tenant(client: httpx.AsyncClient) -> None:
    await client.get("/billing/charge/list", headers=DECODA)
    login = {"client_id": TENANT, "client_secret": "s"}
    token = await client.post("/api/auth/v2/token", json=login)
    assert token.status_code == 200
    text = await scrape(client)
    assert TENANT not in text
    assert "tenant" not in {key for _, labels, _ in samples(text) for key in labels}


async def test_a_fault_that_breaks_a_200_counts_as_a_fault(client: httpx.AsyncClient) -> None:
    rule = {"match": {"api": "decoda"}, "effect": {"malformed": True}, "count": 1}
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    broken = await client.get("/billing/charge/list", headers=DECODA)
    assert broken.status_code == 200 and not broken.text.startswith("[")
    text = await scrape(client)
    assert requests_counted(text, operation="listCharges", cause="fault", status_class="2xx") == 1
    injected = await client.get("/billing/charge/list", headers={**DECODA, "Prefer": "code=503"})
    assert injected.status_code == 503
    text = await scrape(client)
    assert requests_counted(text, operation="listCharges", cause="fault", status_class="5xx") == 1


async def test_a_fault_that_only_waits_leaves_the_calls_own_cause(
    client: httpx.AsyncClient,
) -> None:
    # A slow API (a delay, or a latency rule) still fails for the client's own reasons.
    slow = {**DECODA, "Prefer": "delay=1"}
    assert (await client.get("/billing/charge/get/nope", headers=slow)).status_code == 404
    bad = {**slow, "content-type": "application/json"}
    assert (await client.post("/v1/patient/create", headers=bad, content=b"{")).status_code == 422
    # A code the operation does not declare is refused: the client's mistake, not a fault.
    undeclared = {**DECODA, "Prefer": "code=599"}
    assert (await client.get("/billing/charge/list", headers=undeclared)).status_code == 400
    text = await scrape(client)
    assert requests_counted(text, cause="fault") == 0
    assert requests_counted(text, operation="getCharge", cause="other") == 1
    assert requests_counted(text, cause="validation") == 2


async def test_a_fault_after_the_call_counts_as_a_fault(client: httpx.AsyncClient) -> None:
    rule = {"match": {"api": "decoda"}, "effect": {"status": 503, "afterCommit": True}, "count": 1}
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    body = {"firstName": "Ana", "lastName": "Lima"}
    lost = await client.post("/v1/patient/create", headers=DECODA, json=body)
    assert lost.status_code == 503
    text = await scrape(client)
    assert requests_counted(text, cause="fault", status_class="5xx") == 1


async def test_validation_failures_count_as_validation(client: httpx.AsyncClient) -> None:
    headers = {**DECODA, "content-type": "application/json"}
    answer = await client.post("/v1/patient/create", headers=headers, content=b"{not json")
    assert answer.status_code == 422  # Decoda's answer to a body it cannot read
    text = await scrape(client)
    assert requests_counted(text, cause="validation", status_class="4xx") == 1


class TestRateLimits:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(rate_limits=("decoda=1/60",))

    async def test_a_refusal_is_counted_twice_over(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/billing/charge/list", headers=DECODA)).status_code == 200
        assert (await client.get("/billing/charge/list", headers=DECODA)).status_code == 429
        text = await scrape(client)
        assert requests_counted(text, cause="rate_limit", status_class="4xx") == 1
        refusals = [v for n, labels, v in samples(text)
                    if n == "billing_sandbox_rate_limit_refusals_total"]  # fmt: skip
        assert refusals == [1]


async def test_what_the_server_holds_is_read_when_scraped(client: httpx.AsyncClient) -> None:
    def gauge(text: str, name: str) -> float:
        [value] = [v for n, _, v in samples(text) if n == f"billing_sandbox_{name}"]
        return value

    before = await scrape(client)
    assert gauge(before, "tenants_held") == 0
    await client.get("/billing/charge/list", headers=DECODA)
    await client.get("/billing/charge/list", headers={**DECODA, "TENANT": "another"})
    after = await scrape(client)
    assert gauge(after, "tenants_held") == 2
    assert gauge(after, "journal_entries") == 2
    assert gauge(after, "tenants_spilled") == 0
    assert ("billing_sandbox_sockets_connected", {"api": "mycure"}, 0.0) in samples(after)
    assert any(n == "process_resident_memory_bytes" for n, _, _ in samples(after))


async def test_two_apps_in_one_process_count_apart(clock: ManualClock) -> None:
    apps = [create_app(Settings(), clock=clock) for _ in range(2)]
    texts = []
    for index, app in enumerate(apps):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            for _ in range(index + 1):
                await http.get("/billing/charge/list", headers=DECODA)
            texts.append(await scrape(http))
    assert [requests_counted(text) for text in texts] == [1, 2]


class TestShard:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(shard="shard1")

    async def test_every_series_carries_the_shards_name(self, client: httpx.AsyncClient) -> None:
        await client.get("/billing/charge/list", headers=DECODA)
        found = samples(await scrape(client))
        assert found
        assert {labels.get("shard") for _, labels, _ in found} == {"shard1"}


class TestOff:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(metrics=False)

    async def test_metrics_off_answer_404_saying_how_to_turn_them_on(
        self, app: Starlette, client: httpx.AsyncClient
    ) -> None:
        await client.get("/billing/charge/list", headers=DECODA)
        answer = await client.get("/_sandbox/metrics")
        assert answer.status_code == 404
        assert "--no-metrics" in answer.json()["message"]
        assert app.state.sandbox.metrics is None


def test_a_shard_name_is_short_and_plain() -> None:
    for name in ("shard 1", "a" * 65, 'x"y'):
        with pytest.raises(InvalidSetting):
            Settings(shard=name)


async def test_scraping_follows_the_control_apis_access_rule(clock: ManualClock) -> None:
    """Loopback, or the control token as Prometheus sends it (a bearer token); nobody else."""
    remote = ("203.0.113.7", 51234)

    async def scrape_from(app: Starlette, client: tuple[str, int], **headers: str) -> int:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            return (await http.get("/_sandbox/metrics", headers=headers)).status_code

    open_app = create_app(Settings(), clock=clock)
    assert await scrape_from(open_app, ("127.0.0.1", 5000)) == 200
    assert await scrape_from(open_app, remote) == 403
    guarded = create_app(Settings(control_token="s3cret"), clock=clock)
    assert await scrape_from(guarded, ("127.0.0.1", 5000)) == 401
    assert await scrape_from(guarded, remote, authorization="Bearer wrong") == 401
    assert await scrape_from(guarded, remote, authorization="Bearer s3cret") == 200
