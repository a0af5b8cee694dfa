"""Recorded Candid answers (`proxy --record`) served as seed data by `serve --recordings`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.recordings import load_exchanges
from billing_sandbox.settings import Settings
from tests.candid.helpers import (
    CLAIM,
    CURATED_WRITE_OFF,
    SERVICE_LINE,
    WRITE_OFFS,
    auth,
    patient_item,
    walk,
)
from tests.support.proxying import assert_state_round_trips, proxied

pytestmark = pytest.mark.anyio

# The recording's tenant on the upstream, and the tenant that reads it back here: another
# name and another seed, so nothing but the recording can make the two agree.
UPSTREAM = "upstream-co"
READER = "reader-co"


@pytest.fixture
async def recorded(upstream_app: Starlette, tmp_path: Path) -> dict[str, Any]:
    """Record a session against the upstream: a page, one write-off, two created, a revert."""
    async with proxied("candid", upstream_app, record_dir=tmp_path) as proxy:
        headers = await auth(proxy, UPSTREAM)
        # Reversals first (their amounts are negative), most of their originals on no page.
        query: dict[str, str | int] = {"limit": 25, "sort": "amount_cents", "sort_direction": "asc"}
        page = await proxy.get(WRITE_OFFS, params=query, headers=headers)
        assert page.status_code == 200, page.text
        one = await proxy.get(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}", headers=headers)
        assert one.status_code == 200, one.text
        items = [patient_item(amount_cents=321), patient_item(write_off_note="recorded")]
        made = await proxy.post(WRITE_OFFS, json={"write_offs": items}, headers=headers)
        assert made.status_code == 200, made.text
        first = made.json()["write_offs"][0]["write_off_id"]
        reverted = await proxy.post(f"{WRITE_OFFS}/{first}/revert", headers=headers)
        assert reverted.status_code == 200, reverted.text
    return {
        "dir": tmp_path,
        "page": page.json()["items"],
        "created": made.json()["write_offs"],
        "reversal": reverted.json(),
    }


def seen_ids(recorded: dict[str, Any]) -> list[str]:
    records = [*recorded["page"], *recorded["created"], recorded["reversal"]]
    return list(dict.fromkeys(record["write_off_id"] for record in records))


async def test_every_recorded_write_off_answers_as_the_upstream_does_now(
    recorded: dict[str, Any], upstream: httpx.AsyncClient, reader: httpx.AsyncClient
) -> None:
    """The last word on each write-off wins: the reverted one shows its reversal, as on the
    upstream, though the recording's create answer did not."""
    theirs = await auth(upstream, UPSTREAM)
    ours = await auth(reader, READER)
    ids = seen_ids(recorded)
    assert len(ids) == 28
    for write_off_id in ids:
        expected = await upstream.get(f"{WRITE_OFFS}/{write_off_id}", headers=theirs)
        got = await reader.get(f"{WRITE_OFFS}/{write_off_id}", headers=ours)
        assert got.status_code == 200, got.text
        assert got.content == expected.content
    first = recorded["created"][0]["write_off_id"]
    original = (await reader.get(f"{WRITE_OFFS}/{first}", headers=ours)).json()
    assert original["reverted_by_write_off_id"] == recorded["reversal"]["write_off_id"]


async def test_recorded_write_offs_come_on_top_of_the_seed(
    reader: httpx.AsyncClient, clock: ManualClock
) -> None:
    headers = await auth(reader, READER)
    plain = create_app(Settings(), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=plain), base_url="http://plain.test"
    ) as client:
        # Its own token: each server signs tokens with a key of its own.
        own = await auth(client, READER)
        seeded = {w["write_off_id"] for w in await walk(client, own, limit=100)}
    everything = {w["write_off_id"] for w in await walk(reader, headers, limit=100)}
    assert seeded < everything
    assert len(everything - seeded) == 27  # the curated one is in both


async def test_filters_find_recorded_write_offs_through_what_they_imply(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    """A seeded upstream write-off names a service line this sandbox never seeded: it is
    learned from the recording, so filtering by it finds exactly the recorded ones."""
    headers = await auth(reader, READER)
    patients = [w for w in recorded["page"] if w["type"] == "patient"]
    assert patients
    line = patients[0]["service_line_id"]
    expected = {
        w["write_off_id"]
        for w in recorded["page"]
        if w.get("service_line_id") == line
        or w.get("write_off_target") == {"type": "service_line_id", "value": line}
    }
    found = await reader.get(WRITE_OFFS, params={"service_line_id": line}, headers=headers)
    assert {w["write_off_id"] for w in found.json()["items"]} == expected
    by_patient = await reader.get(
        WRITE_OFFS, params={"patient_external_id": patients[0]["patient_external_id"]},
        headers=headers,
    )  # fmt: skip
    assert patients[0]["write_off_id"] in {w["write_off_id"] for w in by_patient.json()["items"]}


async def test_recorded_write_offs_and_lines_take_new_writes(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    headers = await auth(reader, READER)
    patient = next(w for w in recorded["page"] if w["type"] == "patient")
    made = await reader.post(
        WRITE_OFFS,
        json={"write_offs": [patient_item(service_line_id=patient["service_line_id"])]},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    [new] = made.json()["write_offs"]
    assert (new["claim_id"], new["patient_external_id"]) == (
        patient["claim_id"], patient["patient_external_id"]
    )  # fmt: skip
    second = recorded["created"][1]["write_off_id"]
    reverted = await reader.post(f"{WRITE_OFFS}/{second}/revert", headers=headers)
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["reverts_write_off_id"] == second
    again = await reader.post(f"{WRITE_OFFS}/{recorded['created'][0]['write_off_id']}/revert",
                              headers=headers)  # fmt: skip
    assert again.status_code == 422  # reverted on the upstream, as the recording showed


async def test_a_tenant_with_recorded_data_round_trips_its_snapshot(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    """Including a reversal link to a write-off the recording never showed."""
    links = {
        w[name]
        for w in recorded["page"]
        for name in ("reverts_write_off_id", "reverted_by_write_off_id")
        if name in w
    }
    assert links - set(seen_ids(recorded))
    await reader.get(WRITE_OFFS, headers=await auth(reader, READER))
    await assert_state_round_trips(reader, READER)


async def test_same_recordings_give_byte_identical_tenants(
    recorded: dict[str, Any], clock: ManualClock
) -> None:
    dumps = []
    for _ in range(2):
        app = create_app(Settings(recordings_dir=recorded["dir"]), clock=clock)
        dumps.append(app.state.sandbox.tenant(READER).store("candid").all_write_offs())
    assert dumps[0] == dumps[1]
    assert len(dumps[0]) == 200 + 27


async def test_a_write_off_that_contradicts_the_seed_is_skipped_and_named(
    recorded: dict[str, Any], clock: ManualClock
) -> None:
    """A curated service line is the same in every tenant; a recording that puts it on
    another claim cannot be laid over it without breaking what is seeded."""
    directory: Path = recorded["dir"]
    [created] = [e for e in load_exchanges(directory) if e.operation_id == "createWriteOffs"]
    text = (directory / created.source).read_text()
    data = yaml.safe_load(text)
    data["response"]["body"]["write_offs"][1]["claim_id"] = "00000000-0000-4000-8000-0000000c1a1a"
    (directory / created.source).write_text(yaml.safe_dump(data, sort_keys=False))
    app = create_app(Settings(recordings_dir=directory), clock=clock)
    [skipped] = app.state.sandbox.recordings.skipped
    assert skipped.source == created.source
    assert f"service line {SERVICE_LINE} is seeded here on claim {CLAIM}" in skipped.reason
    rejected = created.response.body["write_offs"][1]["write_off_id"]
    store = app.state.sandbox.tenant(READER).store("candid")
    assert store.find(rejected) is None
    assert store.find(created.response.body["write_offs"][0]["write_off_id"]) is not None


async def test_the_reference_listing_shows_what_the_recording_implies(
    recorded: dict[str, Any], reader: httpx.AsyncClient
) -> None:
    await auth(reader, READER)
    listing = await reader.get(f"/_sandbox/tenants/{READER}/reference/candid")
    assert listing.status_code == 200, listing.text
    lines = {line["service_line_id"]: line for line in listing.json()["service_lines"]}
    for write_off in recorded["page"]:
        if write_off["type"] == "patient":
            line = lines[write_off["service_line_id"]]
            assert line["claim_id"] == write_off["claim_id"]
            assert line["patient_external_id"] == write_off["patient_external_id"]
