"""The server's memory cap (`--max-memory`): past it, every tenant's kept renderings go first,
then the least recently used tenants, dropped or (with writes) spilled, never lost. The memory
read here is a model of what the tenants hold (a megabyte each, and their kept renderings), so
every step is deterministic; `test_the_cap_reads_this_process` reads the real one."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import InvalidSetting, Settings
from billing_sandbox.tenants import memory
from billing_sandbox.tenants.memory import Growth, MemoryCap, memory_cap
from tests.decoda.helpers import creds
from tests.tenants.helpers import http_of

pytestmark = pytest.mark.anyio
MB = 1_000_000
ADA = {"firstName": "Ada", "lastName": "Lovelace"}


class Modelled:
    """A resident set that is what the sandbox's tenants hold: 1 MB each, and their kept
    renderings' bytes; `frozen` holds it where it is, as memory never handed back would."""

    def __init__(self) -> None:
        self.sandbox: Sandbox | None = None
        self.frozen: int | None = None

    def __call__(self) -> int:
        if self.frozen is not None:
            return self.frozen
        held = {} if self.sandbox is None else self.sandbox.tenants()
        return sum(MB + tenant.renders.size for tenant in held.values())


@pytest.fixture
def model() -> Modelled:
    return Modelled()


def capped(cap: int, model: Modelled, tmp_path: Path, clock: ManualClock) -> Starlette:
    """An app whose memory cap reads `model`, and looks at it at every use of a tenant."""
    app = create_app(Settings(state_dir=tmp_path / "spill"), clock=clock)
    sandbox: Sandbox = app.state.sandbox
    sandbox.held_tenants.memory = MemoryCap(cap, model, every=1, step=cap // 64)
    model.sandbox = sandbox
    return app


async def look(http: httpx.AsyncClient, tenant: str) -> None:
    """A read of the whole charge list: the tenant keeps about 0.3 MB of renderings."""
    assert (await http.get("/billing/charge/list", headers=creds(tenant))).status_code == 200


async def test_kept_renderings_go_first_and_may_be_enough(
    model: Modelled,
    tmp_path: Path,
    clock: ManualClock,
    opened: list[httpx.AsyncClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = capped(3_500_000, model, tmp_path, clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    for tenant in ("t1", "t2", "t3"):
        await look(http, tenant)
    assert model() > 3_500_000  # 3 MB of tenants, 0.9 MB of renderings
    with caplog.at_level(logging.WARNING, logger="billing_sandbox"):
        await look(http, "t1")
    # The renderings alone brought it under: every tenant is still held, and only t1, read
    # since, keeps any.
    assert list(sandbox.tenants()) == ["t2", "t3", "t1"]
    assert [t.renders.size > 0 for t in sandbox.tenants().values()] == [False, False, True]
    assert "0 tenants dropped and 0 spilled" in caplog.text


async def test_then_the_least_recently_used_tenants_pristine_first(
    model: Modelled, tmp_path: Path, clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = capped(2_500_000, model, tmp_path, clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    made = await http.post("/user/patient/create", json=ADA, headers=creds("w1"))
    assert made.status_code == 200
    await look(http, "p1")
    await look(http, "p2")
    await look(http, "w1")  # 3.6 MB: renderings go (3 MB), then p1, the oldest pristine one
    assert list(sandbox.tenants()) == ["p2", "w1"]
    assert sandbox.spilled() == []
    assert model() <= 2_500_000


async def test_writes_survive_an_eviction_the_memory_cap_makes(
    model: Modelled, tmp_path: Path, clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = capped(1_500_000, model, tmp_path, clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    patients = {}
    for tenant in ("w1", "w2"):
        made = await http.post("/user/patient/create", json=ADA, headers=creds(tenant))
        assert made.status_code == 200, made.text
        patients[tenant] = made.json()["id"]
    # 2 MB held, both with writes: w1, the least recently used, was spilled, not dropped.
    assert list(sandbox.tenants()) == ["w2"]
    assert sandbox.spilled() == ["w1"]
    read = await http.get(f"/user/patient/{patients['w1']}", headers=creds("w1"))
    assert read.status_code == 200, read.text
    assert read.json()["firstName"] == "Ada"


async def test_memory_never_handed_back_stops_the_evictions(
    model: Modelled, tmp_path: Path, clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = capped(4_500_000, model, tmp_path, clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    for tenant in ("t1", "t2", "t3"):
        await look(http, tenant)
    model.frozen = 4_600_000  # over the cap, whatever is let go
    await look(http, "t3")
    # An eighth of the tenants' memory was to go: one tenant of three; nothing came back, so
    # it stops there, and stays stopped while memory does not grow.
    assert list(sandbox.tenants()) == ["t2", "t3"]
    for tenant in ("t2", "t3", "t2", "t3"):
        await look(http, tenant)
    assert list(sandbox.tenants()) == ["t2", "t3"]
    model.frozen = 4_600_000 + 2 * MB  # grown a step (and more) past where it stuck
    await look(http, "t3")
    assert list(sandbox.tenants()) == ["t3"]


def test_the_cap_looks_every_so_many_uses_or_sooner_as_memory_grows() -> None:
    cap = MemoryCap(64 * MB, lambda: 0, every=4)
    growth = Growth()
    assert [cap.due(growth) for _ in range(8)] == [False, False, False, True] * 2
    assert cap.step == 1 << 20  # a 64th of the cap, at least 1 MiB
    growth.grown = 1 << 20  # a step of kept renderings or new tenants: look now
    assert cap.due(growth) and growth.grown == 0
    cap.look_soon()
    assert cap.due(growth)


def test_over_means_a_step_under_the_cap_and_past_where_a_relief_stuck() -> None:
    cap = MemoryCap(100 * MB, lambda: 0, step=2 * MB)
    # Memory grows by about a step between two looks: a relief starts a step under the cap,
    # and brings memory four steps under it.
    assert (cap.high, cap.target) == (98 * MB, 92 * MB)
    assert not cap.over(98 * MB) and cap.over(98 * MB + 1)
    cap.stuck_at = 99 * MB
    assert not cap.over(101 * MB)
    assert cap.over(101 * MB + 1)
    assert not cap.over(90 * MB) and cap.stuck_at == 0  # under again: forgotten
    assert MemoryCap(4 * MB, lambda: 0).target == 2 * MB  # a small cap: at most half of it


def test_the_cap_reads_this_process() -> None:
    assert memory_cap(Settings()) is None
    made = memory_cap(Settings(max_memory=1 << 40))
    assert made is not None
    assert 10 * MB < made.resident() < 1 << 40
    assert made.base > 0


def test_without_proc_the_cap_is_refused_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "STATM", "/nowhere/statm")
    with pytest.raises(InvalidSetting, match=r"max_memory \(BILLING_SANDBOX_MAX_MEMORY\) needs"):
        memory_cap(Settings(max_memory=1 << 30))
    assert memory_cap(Settings()) is None  # no cap: nothing to read


async def test_a_tenant_keeps_no_more_than_its_budget_and_answers_the_same(
    tmp_path: Path, clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    budget = 100_000  # a third of Decoda's whole charge list
    kept_app = create_app(Settings(max_render_bytes=budget), clock=clock)
    fresh_app = create_app(Settings(max_render_bytes=0), clock=clock)
    kept, fresh = http_of(kept_app, opened), http_of(fresh_app, opened)
    tenant = kept_app.state.sandbox.tenant("acme")
    assert tenant.renders.growth is kept_app.state.sandbox.held_tenants.growth
    listed = await fresh.get("/billing/charge/list", headers=creds())
    ids = [charge["id"] for charge in listed.json()]
    for _ in range(2):
        before = tenant.renders.size
        assert (await kept.get("/billing/charge/list", headers=creds())).content == listed.content
        assert tenant.renders.size == before  # larger than the budget: served, not kept
        for charge in ids:
            path = f"/billing/charge/get/{charge}"
            answer = await kept.get(path, headers=creds())
            assert answer.content == (await fresh.get(path, headers=creds())).content
            assert 0 < tenant.renders.size <= budget
