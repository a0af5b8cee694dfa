"""The counters each part of the server keeps at its source, read back from the exposition
Prometheus scrapes (or from the objects themselves): tenants spilled, reloaded and evicted,
webhook tries and deliveries by outcome, and the write-ahead log's appends, fsyncs,
compactions and size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.events.courier import Outcome, Outgoing, send
from billing_sandbox.observe.metrics import Metrics
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.state import wal
from billing_sandbox.state.durable import WriteAhead
from billing_sandbox.tenants.memory import MemoryCap
from tests.decoda.helpers import creds, new_charge
from tests.decoda.hooks import FROZEN, clock, new_patient, register, settled
from tests.support.processes import free_port
from tests.support.receiver import receiver

pytestmark = pytest.mark.anyio

MB = 1_000_000
ADA = {"firstName": "Ada", "lastName": "Lovelace"}
LOOPBACK = ("loopback", "private")


def counted(text: str, name: str, **labels: str) -> float:
    """The value of the one sample `name` with exactly `labels` (0 when there is none)."""
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    ]
    assert len(found) <= 1, found
    return found[0] if found else 0


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/_sandbox/metrics")
    assert response.status_code == 200, response.text
    return response.text


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http
    await app.state.courier.close()


async def look(http: httpx.AsyncClient, tenant: str) -> None:
    """A read: builds the tenant (pristine) and makes it the most recently used."""
    assert (await http.get("/billing/charge/list", headers=creds(tenant))).status_code == 200


async def write(http: httpx.AsyncClient, tenant: str) -> None:
    made = await http.post("/user/patient/create", json=ADA, headers=creds(tenant))
    assert made.status_code == 200, made.text


# ---- tenants ----


async def test_the_tenant_cap_counts_evictions_spills_and_reloads(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = create_app(Settings(max_tenants=2, state_dir=tmp_path / "spill"), clock=clock)
    async with serving(app) as http:
        await write(http, "w1")
        await look(http, "p1")
        await look(http, "p2")  # p1 dropped (1)
        await write(http, "w2")  # p2 dropped (2)
        await look(http, "w1")
        await look(http, "p3")  # w2 spilled (3)
        await look(http, "w2")  # w2 reloaded, p3 dropped (4)
        text = await scrape(http)
    assert counted(text, "billing_sandbox_tenant_evictions_total", reason="cap") == 4
    assert counted(text, "billing_sandbox_tenant_evictions_total", reason="memory") == 0
    assert counted(text, "billing_sandbox_tenant_spills_total") == 1
    assert counted(text, "billing_sandbox_tenant_reloads_total") == 1


async def test_the_memory_cap_counts_its_evictions_apart(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = create_app(Settings(state_dir=tmp_path / "spill"), clock=clock)
    sandbox: Sandbox = app.state.sandbox
    held = sandbox.held_tenants
    # A resident set of 1 MB a tenant held, looked at on every use of a tenant.
    held.memory = MemoryCap(
        1_500_000, lambda: MB * len(held.in_memory()), every=1, step=1_500_000 // 64
    )
    async with serving(app) as http:
        await write(http, "w1")
        await write(http, "w2")  # 2 MB, both with writes: w1 spilled by the memory cap
        assert sandbox.spilled() == ["w1"]
        await look(http, "w1")
        text = await scrape(http)
    assert counted(text, "billing_sandbox_tenant_evictions_total", reason="memory") == 1
    assert counted(text, "billing_sandbox_tenant_evictions_total", reason="cap") == 0
    assert counted(text, "billing_sandbox_tenant_spills_total") == 1
    assert counted(text, "billing_sandbox_tenant_reloads_total") == 1


async def test_without_metrics_tenants_count_nothing_and_still_spill(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = Settings(max_tenants=1, state_dir=tmp_path / "spill", metrics=False)
    app = create_app(settings, clock=clock)
    sandbox: Sandbox = app.state.sandbox
    assert sandbox.held_tenants.metrics is None
    async with serving(app) as http:
        await write(http, "w1")
        await write(http, "w2")
        await look(http, "w1")
    assert sandbox.spilled() == ["w2"]


# ---- webhooks ----


class Resolver:
    """A stand-in for DNS: every name resolves to `address`."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def __call__(self, host: str, port: int) -> list[str]:
        return [self.address]


def answering(
    *, status: int = 200, error: type[httpx.RequestError] | None = None
) -> httpx.AsyncClient:
    """A client whose every request gets `status`, or raises `error`, without a network."""

    def handle(request: httpx.Request) -> httpx.Response:
        if error is not None:
            raise error("as told", request=request)
        return httpx.Response(status)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("make", "url", "address", "kind"),
    [
        (lambda: answering(status=204), "http://127.0.0.1:9/hooks", "127.0.0.1", "delivered"),
        (lambda: answering(status=500), "http://127.0.0.1:9/hooks", "127.0.0.1", "rejected"),
        (
            lambda: answering(error=httpx.ReadTimeout),
            "http://127.0.0.1:9/hooks", "127.0.0.1", "timeout",
        ),
        (
            lambda: answering(error=httpx.ConnectError),
            "http://127.0.0.1:9/hooks", "127.0.0.1", "unreachable",
        ),
        (
            lambda: answering(error=httpx.RemoteProtocolError),
            "http://127.0.0.1:9/hooks", "127.0.0.1", "unreachable",
        ),
        (lambda: answering(), "http://receiver:9/hooks", "8.8.8.8", "refused"),
        (lambda: answering(), "http://203.0.113.5/hooks", "203.0.113.5", "refused"),
    ],
)  # fmt: skip
async def test_each_try_says_its_outcome_in_one_word(
    make: Any, url: str, address: str, kind: str
) -> None:
    async with make() as http:
        outcome = await send(http, Outgoing("wda_1", url, b"{}"), LOOPBACK, Resolver(address))
    assert outcome.kind == kind


def test_a_try_replayed_from_the_log_has_no_kind() -> None:
    assert Outcome(200, None, 1.0).kind is None


@pytest.fixture
async def courier_closed(app: Starlette) -> AsyncIterator[None]:
    """The in-process app runs no lifespan: close the courier's HTTP client here."""
    yield
    await app.state.courier.close()


async def tries_and_deliveries(http: httpx.AsyncClient) -> dict[str, float]:
    """Every webhook series that counted anything, as `tries:<outcome>` / `deliveries:<...>`."""
    text = await scrape(http)
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            short = sample.name.removeprefix("billing_sandbox_webhook_")
            if short in ("tries_total", "deliveries_total") and sample.value:
                assert sample.labels["api"] == "decoda"
                found[f"{short.removesuffix('_total')}:{sample.labels['outcome']}"] = sample.value
    return found


@pytest.mark.usefixtures("courier_closed")
async def test_a_delivery_on_its_first_try(client: httpx.AsyncClient, app: Starlette) -> None:
    with receiver() as hook:
        await register(client, hook.url, ["PATIENT_CREATED"])
        await new_patient(client)
        await settled(app)
        hook.wait_for(1)
    assert await tries_and_deliveries(client) == {"tries:delivered": 1, "deliveries:delivered": 1}


@pytest.mark.usefixtures("courier_closed")
async def test_rejected_tries_then_a_delivery(client: httpx.AsyncClient, app: Starlette) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500, 503)) as hook:
        await register(client, hook.url, ["CHARGE_CREATED"])
        await new_charge(client)
        await settled(app)
        assert await tries_and_deliveries(client) == {"tries:rejected": 1}
        for step in (1, 5):
            await clock(client, advanceSeconds=step)
            await settled(app)
        hook.wait_for(3)
    assert await tries_and_deliveries(client) == {
        "tries:rejected": 2, "tries:delivered": 1, "deliveries:delivered": 1
    }  # fmt: skip


@pytest.mark.usefixtures("courier_closed")
async def test_a_delivery_whose_tries_run_out_is_exhausted_once(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await clock(client, freezeAt=FROZEN)
    with receiver(statuses=(500,) * 10) as hook:
        await register(client, hook.url, ["CHARGE_CREATED"])
        await new_charge(client)
        await settled(app)
        for step in (1, 5, 15, 60, 300, 900, 3600):
            await clock(client, advanceSeconds=step)
            await settled(app)
        hook.wait_for(7)
    assert await tries_and_deliveries(client) == {"tries:rejected": 7, "deliveries:exhausted": 1}


@pytest.mark.usefixtures("courier_closed")
async def test_a_receiver_nobody_listens_on_is_unreachable(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await register(client, f"http://127.0.0.1:{free_port()}/hooks", ["PATIENT_CREATED"])
    await new_patient(client)
    await settled(app)
    assert await tries_and_deliveries(client) == {"tries:unreachable": 1}


@pytest.mark.usefixtures("courier_closed")
async def test_a_name_resolving_to_a_public_address_is_refused(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    app.state.courier.resolve = Resolver("8.8.8.8")
    await register(client, "http://receiver:8080/hooks", ["PATIENT_CREATED"])
    await new_patient(client)
    await settled(app)
    assert await tries_and_deliveries(client) == {"tries:refused": 1}


# ---- the write-ahead log ----


def test_each_append_counts_its_bytes_and_each_fsync_its_time(tmp_path: Path) -> None:
    metrics = Metrics()
    log = wal.LogFile(tmp_path / "state.json.log", "always", metrics)
    log.open(1)
    header = log.size
    records = [{"t": "call", "n": n} for n in range(3)]
    for record in records:
        log.append(record)
    assert metrics_value(metrics, "log_appends") == 3
    assert metrics_value(metrics, "log_appended_bytes") == sum(len(wal.frame(r)) for r in records)
    assert log.size - header == metrics_value(metrics, "log_appended_bytes")
    assert fsyncs(metrics) == 3  # --fsync always: one a record
    log.close()
    assert fsyncs(metrics) == 4  # and one closing


def test_every_second_fsyncs_only_what_was_appended(tmp_path: Path) -> None:
    metrics = Metrics()
    log = wal.LogFile(tmp_path / "state.json.log", "every-second", metrics)
    log.open(1)
    log.sync()
    assert fsyncs(metrics) == 0  # nothing appended yet
    log.append({"t": "call"})
    log.append({"t": "call"})
    log.sync()
    log.sync()
    assert fsyncs(metrics) == 1
    assert metrics_value(metrics, "log_appends") == 2


def metrics_value(metrics: Metrics, name: str, **labels: str) -> float:
    return counted(metrics.exposition().decode(), f"billing_sandbox_{name}_total", **labels)


def fsyncs(metrics: Metrics) -> float:
    return counted(
        metrics.exposition().decode(), "billing_sandbox_log_fsync_duration_seconds_count"
    )


async def test_a_server_counts_its_log_and_shows_its_size(
    tmp_path: Path, clock: ManualClock
) -> None:
    state_file = tmp_path / "state.json"
    app = create_app(Settings(records=10, state_file=state_file, fsync="always"), clock=clock)
    durable: WriteAhead = app.state.sandbox.changes
    async with serving(app) as http:
        before = await scrape(http)
        # The first start folds the (new) log into a snapshot at once: one compaction.
        assert counted(before, "billing_sandbox_log_compactions_total", outcome="ok") == 1
        assert counted(before, "billing_sandbox_log_appends_total") == 0
        header = durable.path.stat().st_size
        assert counted(before, "billing_sandbox_log_bytes") == header
        for tenant in ("acme", "globex"):
            await write(http, tenant)
        text = await scrape(http)
        kept = wal.read(durable.path)
        assert kept is not None
        appended = counted(text, "billing_sandbox_log_appends_total")
        assert appended == len(kept.records) >= 2
        size = durable.path.stat().st_size
        assert counted(text, "billing_sandbox_log_appended_bytes_total") == size - header
        assert counted(text, "billing_sandbox_log_bytes") == size
        assert counted(text, "billing_sandbox_log_fsync_duration_seconds_count") == appended
        durable.start_compaction()
        assert durable.compacting is not None
        await durable.compacting
        text = await scrape(http)
    assert counted(text, "billing_sandbox_log_compactions_total", outcome="ok") == 2
    assert counted(text, "billing_sandbox_log_bytes") == durable.path.stat().st_size == header


async def test_a_compaction_that_fails_is_counted_and_raised(
    tmp_path: Path, clock: ManualClock
) -> None:
    app = create_app(Settings(records=10, state_file=tmp_path / "state.json"), clock=clock)
    durable: WriteAhead = app.state.sandbox.changes

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        durable.compact_now(full_disk)
    async with serving(app) as http:
        text = await scrape(http)
    assert counted(text, "billing_sandbox_log_compactions_total", outcome="failed") == 1
    assert counted(text, "billing_sandbox_log_compactions_total", outcome="ok") == 1


def test_without_a_state_file_there_is_no_log_size(app: Starlette) -> None:
    metrics: Metrics = app.state.sandbox.metrics
    text = metrics.exposition().decode()
    assert "billing_sandbox_log_bytes" not in text
    assert counted(text, "billing_sandbox_log_appends_total") == 0
