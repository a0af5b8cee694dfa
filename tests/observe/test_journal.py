"""The request journal: what it records, its filters and pages, its bound, and clearing it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from billing_sandbox.clock import ManualClock
from billing_sandbox.observe import journal as journal_module
from billing_sandbox.observe.journal import Journal
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CHARGE, CREATE, PATIENT, creds
from tests.mycure.helpers import bearer

pytestmark = pytest.mark.anyio


async def journal(client: httpx.AsyncClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/_sandbox/requests{query}")
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_vendor_request_is_recorded_with_its_answer(client: httpx.AsyncClient) -> None:
    body = {"patientId": PATIENT, "totalOutstanding": 700}
    made = await client.post(f"{CREATE}?x=1", json=body, headers=creds("acme"))
    [entry] = (await journal(client))["requests"]
    assert entry["tenant"] == "acme" and entry["api"] == "decoda"
    assert (entry["operationId"], entry["method"], entry["path"]) == (
        "createCharge",
        "POST",
        CREATE,
    )
    assert (entry["query"], entry["status"]) == ("x=1", 200)
    assert '"totalOutstanding":700' in entry["requestBody"].replace(" ", "")
    assert entry["responseBody"] == made.text
    assert entry["durationMs"] >= 0


async def test_control_calls_are_not_recorded(client: httpx.AsyncClient) -> None:
    await client.get("/_sandbox/health")
    await client.post("/_sandbox/reset")
    assert (await journal(client))["requests"] == []


async def test_refused_requests_are_recorded_without_a_tenant(client: httpx.AsyncClient) -> None:
    await client.get(f"/billing/charge/get/{CHARGE}")  # no credentials
    [entry] = (await journal(client))["requests"]
    assert (entry["status"], entry["tenant"]) == (401, None)


async def test_filters_by_tenant_api_operation_status_and_time(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    start = clock.now()
    await client.get(f"/billing/charge/get/{CHARGE}", headers=creds("acme"))
    clock.advance(timedelta(minutes=1))
    await client.get("/billing/charge/get/chg_nope", headers=creds("globex"))
    clock.advance(timedelta(minutes=1))
    await client.get("/billing-soas", headers=await bearer(client, "ana@clinic-a.test"))

    def ops(page: dict[str, Any]) -> list[tuple[str | None, int]]:
        return [(e["tenant"], e["status"]) for e in page["requests"]]

    assert ops(await journal(client, "?tenant=acme")) == [("acme", 200)]
    assert ops(await journal(client, "?api=decoda")) == [("globex", 404), ("acme", 200)]
    assert ops(await journal(client, "?status=404")) == [("globex", 404)]
    only = await journal(client, "?operationId=findBillingSoas")
    assert ops(only) == [("clinic-a.test", 200)]
    since = (start + timedelta(seconds=30)).isoformat()
    until = (start + timedelta(seconds=90)).isoformat()
    window = await journal(
        client, f"?since={since.replace('+', '%2B')}&until={until.replace('+', '%2B')}"
    )
    assert ops(window) == [("globex", 404)]


async def test_pages_run_newest_first_with_a_cursor(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await client.get(f"/billing/charge/get/chg_{n}", headers=creds())
    first = await journal(client, "?limit=2")
    second = await journal(client, f"?limit=2&before={first['nextBefore']}")
    third = await journal(client, f"?limit=2&before={second['nextBefore']}")
    paths = [e["path"][-5:] for page in (first, second, third) for e in page["requests"]]
    assert paths == ["chg_4", "chg_3", "chg_2", "chg_1", "chg_0"]
    assert third["nextBefore"] is None


@pytest.mark.parametrize("settings", [Settings(journal_size=3, journal_body_bytes=10)])
async def test_memory_stays_bounded(client: httpx.AsyncClient) -> None:
    for n in range(8):
        await client.get(f"/billing/charge/get/chg_{n}", headers=creds())
    entries = (await journal(client, "?limit=100"))["requests"]
    assert [e["path"][-5:] for e in entries] == ["chg_7", "chg_6", "chg_5"]
    assert all(e["responseBody"].endswith("more bytes]") for e in entries)
    assert all(len(e["responseBody"].split("…")[0]) <= 10 for e in entries)


async def test_clearing_all_or_one_tenant(client: httpx.AsyncClient) -> None:
    await client.get(f"/billing/charge/get/{CHARGE}", headers=creds("acme"))
    await client.get(f"/billing/charge/get/{CHARGE}", headers=creds("globex"))
    cleared = await client.delete("/_sandbox/requests?tenant=acme")
    assert cleared.json() == {"cleared": 1}
    assert [e["tenant"] for e in (await journal(client))["requests"]] == ["globex"]
    assert (await client.delete("/_sandbox/requests")).json() == {"cleared": 1}
    assert (await journal(client))["requests"] == []


def test_it_counts_each_tenants_entries_that_fell_out() -> None:
    """What a recording made from the journal needs to say that it may miss writes."""
    kept = Journal(capacity=2, body_limit=100)
    for tenant in ("acme", "acme", "globex", "acme"):
        kept.record(0.0, tenant, "decoda", "createPatient", "POST", "/p", "", 200, 1.0, b"", b"")
    assert (kept.dropped("acme"), kept.dropped("globex"), kept.dropped("initech")) == (2, 0, 0)
    kept.clear("acme")  # the tenant's record starts afresh
    assert kept.dropped("acme") == 0
    kept.record(0.0, "globex", "decoda", "createPatient", "POST", "/p", "", 200, 1.0, b"", b"")
    kept.record(0.0, "globex", "decoda", "createPatient", "POST", "/p", "", 200, 1.0, b"", b"")
    assert kept.dropped("globex") == 1
    kept.clear()
    assert kept.dropped("globex") == 0


def test_a_journal_that_keeps_nothing_drops_every_entry() -> None:
    kept = Journal(capacity=0, body_limit=100)
    kept.record(0.0, "acme", "decoda", "createPatient", "POST", "/p", "", 200, 1.0, b"", b"")
    assert kept.dropped("acme") == 1 and len(kept) == 0


def test_past_so_many_tenants_the_others_drops_are_counted_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal_module, "_DROPS_NAMED", 1)
    kept = Journal(capacity=1, body_limit=100)
    for tenant in ("acme", "globex", "initech", "acme"):
        kept.record(0.0, tenant, "decoda", "createPatient", "POST", "/p", "", 200, 1.0, b"", b"")
    # acme's one drop is named; globex's and initech's are not, and count for everyone.
    assert kept.dropped("acme") == 1 + 2 and kept.dropped("globex") == 0 + 2
