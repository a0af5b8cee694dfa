"""What the dashboard reads: the tenants held, a tenant's records, the journal as a stream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.settings import Settings
from tests.decoda.helpers import creds

pytestmark = pytest.mark.anyio

CHARGES = "/billing/charge/list"


def events(text: str) -> list[dict[str, Any]]:
    """The `request` events of an SSE body, each with its id."""
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "request":
            found.append({"id": int(fields["id"]), **orjson.loads(fields["data"])})
    return found


async def test_tenants_lists_each_held_tenant_with_counts_and_clock(
    client: httpx.AsyncClient,
) -> None:
    listed = (await client.get(CHARGES, headers=creds("acme"))).json()
    body = (await client.get("/_sandbox/tenants")).json()
    [acme] = body["tenants"]
    assert acme["id"] == "acme" and acme["written"] is False and acme["spilled"] is False
    assert acme["apis"]["decoda"]["charges"] == len(listed)
    assert acme["clock"] == {
        "now": "2026-03-01T12:00:00+00:00",
        "frozen": False,
        "offsetSeconds": 0,
    }
    assert acme["sockets"] == 0
    assert body["maxTenants"] == Settings().max_tenants


async def test_a_changed_tenant_shows_as_written_with_its_moved_clock(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_sandbox/tenants/acme/clock", json={"advanceSeconds": 60})
    await client.get(CHARGES, headers=creds("acme"))
    await client.post("/billing/charge/archive/nope", headers=creds("acme"))
    [acme] = (await client.get("/_sandbox/tenants")).json()["tenants"]
    assert acme["written"] is True
    assert acme["clock"]["now"] == "2026-03-01T12:01:00+00:00"
    assert acme["clock"]["offsetSeconds"] == 60


async def test_a_frozen_clock_falls_behind_the_servers_time(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """The offset is measured from the server's time, which runs on while the tenant's waits."""
    await client.post("/_sandbox/tenants/acme/clock", json={"advanceSeconds": 3 * 86400})
    await client.post("/_sandbox/tenants/acme/clock", json={"freezeAt": "2026-03-04T12:00:00Z"})
    clock.advance(timedelta(hours=1))
    [acme] = (await client.get("/_sandbox/tenants")).json()["tenants"]
    assert acme["clock"]["frozen"] is True
    assert acme["clock"]["offsetSeconds"] == 3 * 86400 - 3600


async def test_spilled_tenants_are_listed_without_loading_them(tmp_path: Any) -> None:
    app = create_app(Settings(max_tenants=1, state_dir=tmp_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as c:
        for tenant in ("one", "two"):
            await c.post("/_sandbox/tenants/" + tenant + "/clock", json={"advanceSeconds": 1})
            await c.post("/billing/charge/archive/nope", headers=creds(tenant))
        rows = {t["id"]: t for t in (await c.get("/_sandbox/tenants")).json()["tenants"]}
    assert rows["one"]["spilled"] is True and rows["one"]["apis"] == {}
    assert rows["two"]["spilled"] is False


async def test_records_are_served_as_the_api_serves_them(client: httpx.AsyncClient) -> None:
    listed = (await client.get(CHARGES, headers=creds("acme"))).json()
    page = (await client.get("/_sandbox/tenants/acme/records/decoda?limit=5")).json()
    assert page["kind"] == "charges" and page["total"] == len(listed)
    assert page["kinds"]["charges"] == len(listed) and "patients" in page["kinds"]
    assert len(page["records"]) == 5
    for record in page["records"]:
        served = await client.get(f"/billing/charge/get/{record['id']}", headers=creds("acme"))
        assert record == served.json()


async def test_records_search_and_page(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/_sandbox/tenants/acme/records/mycure?limit=100")).json()
    target = everything["records"][3]
    found = (
        await client.get("/_sandbox/tenants/acme/records/mycure", params={"q": target["id"]})
    ).json()
    assert [r["id"] for r in found["records"]] == [target["id"]] and found["total"] == 1
    second = (await client.get("/_sandbox/tenants/acme/records/mycure?limit=2&offset=2")).json()
    assert second["records"] == everything["records"][2:4]


async def every_record(client: httpx.AsyncClient, api: str, **query: str) -> list[Any]:
    """Every record of a kind, page by page."""
    found: list[Any] = []
    while True:
        page = (
            await client.get(
                f"/_sandbox/tenants/acme/records/{api}",
                params={**query, "limit": 100, "offset": len(found)},
            )
        ).json()
        found += page["records"]
        if len(found) >= page["total"]:
            return found


@pytest.mark.parametrize(
    ("api", "kind", "made"),
    [
        ("candid", "write-offs", "write_off_timestamp"),
        ("decoda", "charges", "createdDate"),
        ("decoda", "payments", "createdDate"),
        ("mycure", "billing-soas", "createdAt"),
    ],
)
async def test_records_newest_first_by_when_each_was_made(
    client: httpx.AsyncClient, api: str, kind: str, made: str
) -> None:
    kept = await every_record(client, api, kind=kind)
    newest = await every_record(client, api, kind=kind, order="newest")
    assert sorted(map(orjson.dumps, newest)) == sorted(map(orjson.dumps, kept))
    assert [r[made] for r in newest] == sorted((r[made] for r in kept), reverse=True)
    # The store's own order is still the default, and it is not the same.
    assert newest != kept


async def test_records_made_at_the_same_instant_show_the_later_made_first(
    client: httpx.AsyncClient,
) -> None:
    """The test clock stands still, so both patients are made at the same instant."""
    made = [
        await client.post("/user/patient/create", json={"firstName": name}, headers=creds("acme"))
        for name in ("Zed First", "Zed Second")
    ]
    first, second = (response.json()["id"] for response in made)
    page = (
        await client.get(
            "/_sandbox/tenants/acme/records/decoda",
            params={"kind": "patients", "order": "newest", "limit": 2},
        )
    ).json()
    assert [r["id"] for r in page["records"]] == [second, first]
    found = (
        await client.get(
            "/_sandbox/tenants/acme/records/decoda",
            params={"kind": "patients", "order": "newest", "q": "zed "},
        )
    ).json()
    assert [r["id"] for r in found["records"]] == [second, first]  # a search keeps the order
    kept = await every_record(client, "decoda", kind="patients")
    assert [r["id"] for r in kept[-2:]] == [first, second]


async def test_records_in_an_order_not_offered_are_refused(client: httpx.AsyncClient) -> None:
    refused = await client.get("/_sandbox/tenants/acme/records/decoda?order=oldest")
    assert refused.status_code == 422 and "order" in refused.json()["message"]


async def test_records_of_an_unknown_kind_or_api_are_refused(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/_sandbox/tenants/acme/records/candid?kind=claims")
    assert unknown.status_code == 404 and "claims" in unknown.json()["message"]
    assert (await client.get("/_sandbox/tenants/acme/records/stripe")).status_code == 422


async def test_the_stream_sends_new_requests_with_their_sequence(
    client: httpx.AsyncClient,
) -> None:
    await client.get(CHARGES, headers=creds("acme"))
    await client.get("/billing/charge/get/nope", headers=creds("acme"))
    streamed = await client.get("/_sandbox/requests/stream?after=0&seconds=1")
    assert streamed.headers["content-type"].startswith("text/event-stream")
    sent = events(streamed.text)
    assert [(e["id"], e["status"]) for e in sent] == [(1, 200), (2, 404)]
    assert sent[1]["operationId"] == "getCharge" and "nope" in sent[1]["responseBody"]
    assert streamed.text.startswith("retry: 1000\n\n")


async def test_the_stream_resumes_after_last_event_id(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get(CHARGES, headers=creds("acme"))
    resumed = await client.get(
        "/_sandbox/requests/stream?seconds=1", headers={"Last-Event-ID": "2"}
    )
    assert [e["id"] for e in events(resumed.text)] == [3]


async def test_the_stream_begins_with_what_comes_next_by_default(
    client: httpx.AsyncClient,
) -> None:
    await client.get(CHARGES, headers=creds("acme"))
    streamed = await client.get("/_sandbox/requests/stream?seconds=1")
    assert events(streamed.text) == []


async def test_an_id_from_before_a_restart_replays_this_journal(
    client: httpx.AsyncClient,
) -> None:
    await client.get(CHARGES, headers=creds("acme"))
    resumed = await client.get(
        "/_sandbox/requests/stream?seconds=1", headers={"Last-Event-ID": "900"}
    )
    assert [e["id"] for e in events(resumed.text)] == [1]


async def test_the_stream_ends_when_the_server_stops_with_what_was_recorded(
    app: Starlette,
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as c:
        await c.get(CHARGES, headers=creds("acme"))
        app.state.sandbox.stopping = lambda: True
        streamed = await c.get("/_sandbox/requests/stream?after=0&seconds=300", timeout=5)
    assert streamed.status_code == 200
    assert [e["id"] for e in events(streamed.text)] == [1]
