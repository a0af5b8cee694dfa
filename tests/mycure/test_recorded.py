"""Recorded MYCURE answers (`proxy --record`) served as seed data by `serve --recordings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.apis.mycure import querystring
from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.recordings import load_exchanges
from billing_sandbox.settings import Settings
from tests.mycure.helpers import FACILITY, HMO, assert_feathers, bearer, create
from tests.support.proxying import assert_state_round_trips, proxied

pytestmark = pytest.mark.anyio

# The organisation recorded on the upstream, and another that reads the recording here.
UPSTREAM = "upstream.test"
READER = "reader.test"


@pytest.fixture
async def recorded(upstream_app: Starlette, tmp_path: Path) -> dict[str, Any]:
    """A session: find everything, create two drafts, change one, finalize and remove the
    other, and a `$select` find."""
    async with proxied("mycure", upstream_app, record_dir=tmp_path) as proxy:
        headers = await bearer(proxy, f"ana@{UPSTREAM}")
        found = await proxy.get("/billing-soas", params={"$limit": 50}, headers=headers)
        assert found.status_code == 200, found.text
        kept = await create(proxy, headers, note="kept")
        gone = await create(proxy, headers, note="gone")
        patched = await proxy.patch(
            f"/billing-soas/{kept['id']}", json={"note": "changed", "LOANo": "LOA-9"},
            headers=headers,
        )  # fmt: skip
        assert patched.status_code == 200, patched.text
        for change in ({"finalize": True},):
            done = await proxy.patch(f"/billing-soas/{gone['id']}", json=change, headers=headers)
            assert done.status_code == 200, done.text
        removed = await proxy.delete(f"/billing-soas/{gone['id']}", headers=headers)
        assert removed.status_code == 200, removed.text
        selected = await proxy.get(
            "/billing-soas", params={"$select[0]": "note", "$limit": 50}, headers=headers
        )
        assert selected.status_code == 200, selected.text
    return {"dir": tmp_path, "found": found.json(), "kept": kept, "gone": gone}


async def test_recorded_statements_answer_as_the_upstream_does_now(
    recorded: dict[str, Any], upstream: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    theirs = await bearer(upstream, f"ana@{UPSTREAM}")
    ours = await bearer(reader, f"ben@{READER}")
    ids = [soa["id"] for soa in recorded["found"]] + [recorded["kept"]["id"]]
    assert len(ids) == 45  # 4 curated, 40 seeded, 1 created and kept
    for soa_id in ids:
        expected = await upstream.get(f"/billing-soas/{soa_id}", headers=theirs)
        got = await reader.get(f"/billing-soas/{soa_id}", headers=ours)
        assert got.status_code == 200, got.text
        assert got.content == expected.content
    kept = (await reader.get(f"/billing-soas/{recorded['kept']['id']}", headers=ours)).json()
    assert (kept["note"], kept["LOANo"]) == ("changed", "LOA-9")  # the patch's answer won


async def test_a_recorded_removal_removes(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    headers = await bearer(reader, f"ben@{READER}")
    got = await reader.get(f"/billing-soas/{recorded['gone']['id']}", headers=headers)
    assert_feathers(got, 404, "NotFound")


async def test_recorded_statements_come_on_top_of_the_seed(
    reader_app: Starlette, clock: ManualClock
) -> None:
    plain = create_app(Settings(), clock=clock).state.sandbox.tenant(READER).store("mycure")
    store = reader_app.state.sandbox.tenant(READER).store("mycure")
    assert set(plain.soas) < set(store.soas)
    assert len(set(store.soas) - set(plain.soas)) == 41  # the 4 curated are in both


async def test_customers_the_recording_implies_take_new_statements(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    """The upstream's own seeded customers are unknown here until the recording names them."""
    headers = await bearer(reader, f"ben@{READER}")
    strangers = [s for s in recorded["found"] if s["customer"] not in _fixture_customers()]
    assert {s["type"] for s in strangers} == {"organization", "insurance-contract"}
    for soa in strangers[:6]:
        body = {"facility": soa["facility"], "type": soa["type"], "customer": soa["customer"]}
        made = await reader.post("/billing-soas", json=body, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["customerType"] == soa["customerType"]
        assert made.json().get("customerSubtype") == soa.get("customerSubtype")


async def test_a_tenant_with_recorded_data_round_trips_its_snapshot(
    reader: httpx.AsyncClient,
) -> None:
    await reader.get("/billing-soas", headers=await bearer(reader, f"ben@{READER}"))
    await assert_state_round_trips(reader, READER)


async def test_a_select_answer_of_an_unseen_statement_is_skipped_and_named(
    recorded: dict[str, Any], clock: ManualClock
) -> None:
    """It shows some fields only: laid over a statement seen whole it is taken, alone not."""
    directory: Path = recorded["dir"]
    for exchange in load_exchanges(directory):
        whole = "$select" not in querystring.parse(exchange.query)
        if exchange.operation_id == "findBillingSoas" and whole:
            (directory / exchange.source).unlink()  # no whole answer for the seeded ones
    app = create_app(Settings(recordings_dir=directory), clock=clock)
    skipped = app.state.sandbox.recordings.skipped
    # The upstream's 40 seeded ones; the 4 curated are seeded here too, the kept one recorded.
    assert len(skipped) == 40
    assert all("a $select answer shows only some of its fields" in s.reason for s in skipped)
    store = app.state.sandbox.tenant(READER).store("mycure")
    assert store.soas[recorded["kept"]["id"]]["LOANo"] == "LOA-9"


async def test_a_statement_whose_customer_contradicts_the_seed_is_skipped(
    recorded: dict[str, Any], clock: ManualClock
) -> None:
    directory: Path = recorded["dir"]
    [created] = [
        e
        for e in load_exchanges(directory)
        if e.operation_id == "createBillingSoa" and e.response.body["note"] == "kept"
    ]
    data = yaml.safe_load((directory / created.source).read_text())
    data["response"]["body"]["customerSubtype"] = "government"  # the curated HMO is an hmo
    (directory / created.source).write_text(yaml.safe_dump(data, sort_keys=False))
    soa_id = created.response.body["id"]
    for exchange in load_exchanges(directory):
        if exchange.operation_id == "patchBillingSoa" and exchange.path.endswith(soa_id):
            (directory / exchange.source).unlink()  # its answers would lay it down again
    app = create_app(Settings(recordings_dir=directory), clock=clock)
    reasons = {s.source: s.reason for s in app.state.sandbox.recordings.skipped}
    assert f"its customer {HMO} is insurance/hmo here" in reasons[created.source]
    assert soa_id not in app.state.sandbox.tenant(READER).store("mycure").soas


def _fixture_customers() -> set[str]:
    return (
        {HMO, "5eb00000000000000000c002", "5eb00000000000000000c003"}
        | {f"5eb00000000000000000cc0{n}" for n in (1, 2, 3)}
        | {FACILITY}
    )


async def test_the_reference_listing_shows_the_customers_the_recording_names(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    await bearer(reader, f"ben@{READER}")
    listing = await reader.get(f"/_sandbox/tenants/{READER}/reference/mycure")
    assert listing.status_code == 200, listing.text
    customers = listing.json()["customers"]
    known = {c["id"] for c in customers["organizations"] + customers["insuranceContracts"]}
    assert {soa["customer"] for soa in recorded["found"]} <= known
