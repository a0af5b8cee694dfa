"""The bound on what all tenants together keep of their renderings (`--max-render-memory`):
past it, the least recently used tenants' kept renderings are forgotten, the tenant in use
keeps its own, and every answer stays byte for byte what a fresh render gives."""

from __future__ import annotations

import httpx
import orjson
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.tenants.held import HeldTenants
from tests.decoda.helpers import creds
from tests.tenants.helpers import http_of

pytestmark = pytest.mark.anyio
# A tenant's whole Decoda charge list keeps about 0.3 MB: room for three of them.
BUDGET = 1_000_000


async def charge_list(http: httpx.AsyncClient, tenant: str) -> bytes:
    answer = await http.get("/billing/charge/list", headers=creds(tenant))
    assert answer.status_code == 200, answer.text
    return answer.content


def kept(sandbox: Sandbox) -> dict[str, int]:
    return {name: tenant.renders.size for name, tenant in sandbox.tenants().items()}


async def test_past_the_budget_the_least_recently_used_tenants_forget_theirs(
    clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = create_app(Settings(max_render_memory=BUDGET), clock=clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    for tenant in ("t1", "t2", "t3"):
        await charge_list(http, tenant)
    three = kept(sandbox)
    assert all(size > 250_000 for size in three.values())
    assert sum(three.values()) < BUDGET  # three fit: nobody forgot anything
    await charge_list(http, "t4")  # four are over: counted at the next use of a tenant
    await charge_list(http, "t4")
    # The oldest went until the rest held three quarters of the budget at most; the tenant in
    # use kept its own.
    now = kept(sandbox)
    assert now == {"t1": 0, "t2": 0, "t3": three["t3"], "t4": now["t4"]}
    assert now["t4"] > 250_000 and sum(now.values()) <= BUDGET * 3 // 4


async def test_a_tenant_that_forgot_answers_the_same_bytes_and_keeps_them_again(
    clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = create_app(Settings(max_render_memory=BUDGET), clock=clock)
    fresh = http_of(create_app(Settings(max_render_bytes=0), clock=clock), opened)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    first = await charge_list(http, "t1")
    for tenant in ("t2", "t3", "t4", "t5"):
        await charge_list(http, tenant)
    assert kept(sandbox)["t1"] == 0
    assert await charge_list(http, "t1") == first == await charge_list(fresh, "t1")
    assert kept(sandbox)["t1"] > 0  # in use again: kept again


async def test_without_a_budget_every_tenant_keeps_its_own(
    clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    app = create_app(Settings(max_render_memory=0), clock=clock)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    for index in range(5):
        await charge_list(http, f"t{index}")
    await charge_list(http, "t0")
    assert all(size > 250_000 for size in kept(sandbox).values())
    assert len(kept(sandbox)) == 5


async def test_the_renderings_are_counted_only_once_they_may_be_over(
    clock: ManualClock, opened: list[httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(max_render_memory=BUDGET), clock=clock)
    http = http_of(app, opened)
    counts: list[int] = []
    bound = HeldTenants._bound_renders

    def counted(self: HeldTenants, keep: str) -> None:
        counts.append(1)
        bound(self, keep)

    monkeypatch.setattr(HeldTenants, "_bound_renders", counted)
    for tenant in ("t1", "t2", "t3"):
        await charge_list(http, tenant)
    for _ in range(20):
        await charge_list(http, "t3")  # kept already: nothing new, nothing counted
    assert counts == []
    await charge_list(http, "t4")
    await charge_list(http, "t4")
    assert counts == [1]  # t4's list took them past: counted once, then room again
    for _ in range(20):
        await charge_list(http, "t4")
    assert counts == [1]


async def test_no_tenant_keeps_more_than_all_tenants_together_may(
    clock: ManualClock, opened: list[httpx.AsyncClient]
) -> None:
    budget = 100_000  # a third of Decoda's whole charge list
    app = create_app(Settings(max_render_memory=budget), clock=clock)
    fresh = http_of(create_app(Settings(max_render_bytes=0), clock=clock), opened)
    sandbox: Sandbox = app.state.sandbox
    http = http_of(app, opened)
    assert await charge_list(http, "t1") == await charge_list(fresh, "t1")
    assert kept(sandbox)["t1"] == 0  # larger than the whole bound: served, never kept
    ids = [charge["id"] for charge in orjson.loads(await charge_list(http, "t1"))]
    for charge in ids:
        answer = await http.get(f"/billing/charge/get/{charge}", headers=creds("t1"))
        assert answer.status_code == 200
        assert 0 < kept(sandbox)["t1"] <= budget
