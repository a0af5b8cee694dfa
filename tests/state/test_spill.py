"""Bounded memory: past `max_tenants`, pristine tenants are dropped and tenants with writes are
spilled to the state directory, then loaded back answering exactly as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.state import persistence
from tests.decoda.helpers import creds

pytestmark = pytest.mark.anyio
ADA = {"firstName": "Ada", "lastName": "Lovelace"}


@pytest.fixture
def small(tmp_path: Path, clock: ManualClock) -> Starlette:
    return create_app(Settings(max_tenants=2, state_dir=tmp_path / "spill"), clock=clock)


@pytest.fixture
async def http(small: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c


def sandbox_of(app: Starlette) -> Sandbox:
    sandbox: Sandbox = app.state.sandbox
    return sandbox


async def look(http: httpx.AsyncClient, tenant: str) -> None:
    """A read: builds the tenant (pristine) and makes it the most recently used."""
    assert (await http.get("/billing/charge/list", headers=creds(tenant))).status_code == 200


async def write(http: httpx.AsyncClient, tenant: str) -> dict[str, Any]:
    made = await http.post("/user/patient/create", json=ADA, headers=creds(tenant))
    assert made.status_code == 200, made.text
    patient: dict[str, Any] = made.json()
    return patient


async def test_pristine_tenants_go_first_then_the_least_recently_used(
    http: httpx.AsyncClient, small: Starlette
) -> None:
    sandbox = sandbox_of(small)
    await write(http, "w1")
    await look(http, "p1")
    await look(http, "p2")  # over the cap of 2: p1 (pristine, oldest) goes, w1 stays
    assert list(sandbox.tenants()) == ["w1", "p2"]
    assert sandbox.spilled() == []
    await write(http, "w2")  # p2 is dropped, though w1 is older: it has writes
    assert list(sandbox.tenants()) == ["w1", "w2"]
    await look(http, "w1")  # w1 becomes the most recently used
    await look(http, "p3")  # no pristine tenant left: w2, the least recently used, spills
    assert list(sandbox.tenants()) == ["w1", "p3"]
    assert sandbox.spilled() == ["w2"]


async def test_a_spilled_tenant_answers_and_exports_the_same_bytes(
    http: httpx.AsyncClient, small: Starlette
) -> None:
    patient = await write(http, "w1")
    path = f"/user/patient/{patient['id']}"
    before = (await http.get(path, headers=creds("w1"))).content
    exported = (await http.get("/_sandbox/tenants/w1/state")).content
    await write(http, "w2")
    await write(http, "w3")
    assert sandbox_of(small).spilled() == ["w1"]
    assert (await http.get(path, headers=creds("w1"))).content == before
    assert (await http.get("/_sandbox/tenants/w1/state")).content == exported
    assert "w1" in sandbox_of(small).tenants()  # loaded back; w2 spilled in its place
    assert sandbox_of(small).spilled() == ["w2"]


async def test_clocks_faults_and_the_journal_outlive_eviction(
    http: httpx.AsyncClient, small: Starlette
) -> None:
    frozen = await http.post(
        "/_sandbox/tenants/w1/clock", json={"freezeAt": "2030-01-02T03:04:05+00:00"}
    )
    assert frozen.status_code == 200, frozen.text
    rule = {"match": {"tenant": "w1", "operationId": "listCharges"}, "effect": {"status": 500}}
    assert (await http.post("/_sandbox/faults", json=rule)).status_code == 201
    for tenant in ("w2", "w3"):
        await write(http, tenant)
    assert sandbox_of(small).spilled() == ["w1"]
    clock = (await http.get("/_sandbox/tenants/w1/clock")).json()
    assert (clock["now"], clock["frozen"]) == ("2030-01-02T03:04:05+00:00", True)
    faulted = await http.get("/billing/charge/list", headers=creds("w1"))
    assert faulted.status_code == 500
    journal = (await http.get("/_sandbox/requests", params={"tenant": "w1"})).json()
    assert [entry["status"] for entry in journal["requests"]][:1] == [500]


async def test_a_spill_that_fails_midway_keeps_the_tenant_in_memory(
    http: httpx.AsyncClient, small: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is written beside and renamed: a crash mid-write leaves no torn file, and the
    tenant leaves memory only once its file is whole."""
    patient = await write(http, "w1")
    await write(http, "w2")

    def crash(file: Any, data: bytes) -> None:
        file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("billing_sandbox.state.spill._write_all", crash)
    await write(http, "w3")
    sandbox = sandbox_of(small)
    assert sorted(sandbox.tenants()) == ["w1", "w2", "w3"]  # over the cap, nothing lost
    assert sandbox.spilled() == []
    spill_dir = sandbox.settings.state_dir
    assert spill_dir is not None and list(spill_dir.glob("*.tenant.json")) == []
    got = await http.get(f"/user/patient/{patient['id']}", headers=creds("w1"))
    assert got.status_code == 200


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
async def test_a_broken_spill_file_fails_that_tenant_only_and_clearly(
    http: httpx.AsyncClient, small: Starlette, damage: str
) -> None:
    await write(http, "w1")
    await write(http, "w2")
    await write(http, "w3")
    spill_dir = sandbox_of(small).settings.state_dir
    assert spill_dir is not None
    [spilled] = list(spill_dir.glob("*.tenant.json"))
    if damage == "corrupt":
        spilled.write_bytes(b'{"format": "billing-sandbox/1", "tenant": "w1", "clock"')
    else:
        spilled.unlink()
    answer = await http.get("/billing/charge/list", headers=creds("w1"))
    assert answer.status_code == 500
    message = answer.json()["detail"]
    assert "tenant 'w1' was spilled to" in message and "cannot be loaded back" in message
    assert "/_sandbox/tenants/w1/reset" in message
    assert (await http.get("/billing/charge/list", headers=creds("w3"))).status_code == 200
    # A reset starts it anew from its seed.
    assert (await http.post("/_sandbox/tenants/w1/reset")).status_code == 200
    assert (await http.get("/billing/charge/list", headers=creds("w1"))).status_code == 200


async def test_exports_and_the_state_file_include_spilled_tenants(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = Settings(max_tenants=1, state_dir=tmp_path / "spill", state_file=tmp_path / "s.json")
    app = create_app(settings, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as http:
        await write(http, "w1")
        await write(http, "w2")
        assert sandbox_of(app).spilled() == ["w1"]
        everyone = (await http.get("/_sandbox/state")).json()
        assert sorted(everyone["tenants"]) == ["w1", "w2"]
    persistence.save(sandbox_of(app))
    restarted = create_app(settings, clock=clock)
    assert sorted(persistence_tenants(restarted)) == ["w1", "w2"]


def persistence_tenants(app: Starlette) -> list[str]:
    sandbox = sandbox_of(app)
    return [*sandbox.tenants(), *sandbox.spilled()]


async def test_resetting_a_spilled_tenant_removes_its_file(
    http: httpx.AsyncClient, small: Starlette
) -> None:
    for tenant in ("w1", "w2", "w3"):
        await write(http, tenant)
    spill_dir = sandbox_of(small).settings.state_dir
    assert spill_dir is not None and len(list(spill_dir.glob("*.tenant.json"))) == 1
    assert (await http.post("/_sandbox/tenants/w1/reset")).status_code == 200
    assert list(spill_dir.glob("*.tenant.json")) == []
    assert sandbox_of(small).spilled() == []


def test_the_cap_comes_from_the_environment() -> None:
    settings = Settings.from_env(
        {"BILLING_SANDBOX_MAX_TENANTS": "50", "BILLING_SANDBOX_STATE_DIR": "/x"}
    )
    assert (settings.max_tenants, settings.state_dir) == (50, Path("/x"))


def test_the_command_line_sets_the_cap_and_the_banner_says_where_tenants_spill(
    tmp_path: Path,
) -> None:
    from billing_sandbox.cli import parse_args
    from billing_sandbox.cli.banner import banner
    from billing_sandbox.cli.serve import settings_of

    settings = settings_of(
        parse_args(["serve", "--max-tenants", "7", "--state-dir", str(tmp_path)])
    )
    assert (settings.max_tenants, settings.state_dir) == (7, tmp_path)
    assert f"at most 7 tenants; tenants with writes past that spill to {tmp_path}" in banner(
        settings
    )
    # Without --state-dir, the server's own directory, named in the banner all the same.
    assert "billing-sandbox-" in banner(settings_of(parse_args(["serve"])))
    with pytest.raises(SystemExit):
        settings_of(parse_args(["serve", "--max-tenants", "0"]))
