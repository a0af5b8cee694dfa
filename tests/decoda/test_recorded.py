"""Recorded Decoda answers (`proxy --record`) served as seed data by `serve --recordings`."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from billing_sandbox.apis.decoda.state import export_state
from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.recordings import Exchange, load_exchanges
from billing_sandbox.settings import Settings
from tests.decoda.helpers import CREATE, ITEM, PART_PAID, PAYMENT, SETTLE, creds
from tests.support.proxying import assert_state_round_trips, proxied

pytestmark = pytest.mark.anyio

# The recording's tenant on the upstream, and the tenant that reads it back: another name
# and another seed, so nothing but the recording can make the two agree.
UPSTREAM = "upstream-co"
READER = "reader-co"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Recording:
    dir: Path
    upstream: Starlette  # the 'real server' as the recording left it
    patient: str  # made through the legacy API
    charge: str  # itemised: part paid in cash, part refunded, adjusted
    shared: str  # one check payment over two charges

    def exchanges(self, operation_id: str) -> list[Exchange]:
        return [e for e in load_exchanges(self.dir) if e.operation_id == operation_id]


async def _record(directory: Path, upstream: Starlette, clock: ManualClock) -> Recording:
    """A session against the upstream, an hour between steps so the timeline has an order."""
    async with proxied("decoda", upstream, record_dir=directory) as proxy:

        async def call(method: str, path: str, **kwargs: Any) -> Any:
            clock.advance(timedelta(hours=1))
            response = await proxy.request(method, path, headers=creds(UPSTREAM), **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

        patient = (await call("POST", "/v1/patient/create", json={
            "firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "1985-12-10",
            "externalUserId": "ext-1001",
        }))["id"]  # fmt: skip
        items = [{"itemId": ITEM, "quantity": 1, "price": 5000},
                 {"name": "Late fee", "quantity": 1, "price": 1000}]  # fmt: skip
        made = await call("POST", CREATE, json={"patientId": patient, "totalOutstanding": 6000,
                                                "items": items})  # fmt: skip
        await call("GET", f"/billing/charge/get/{made['id']}")  # before any money moved
        body = [{"id": made["id"], "patientId": patient, "totalOutstanding": 0}]
        paid = await call("POST", SETTLE, json=body,
                          params={"amount": 2500, "payment_medium": "CASH"})  # fmt: skip
        await call("POST", "/billing/payment/refund", json={
            "paymentId": paid["id"], "providerId": "prov_1", "amount": 500, "reason": "OTHER"
        })  # fmt: skip
        await call("POST", "/billing/adjustment/create",
                   json={"chargeId": made["id"], "amount": -500, "reason": "Courtesy"})  # fmt: skip
        other = await call("POST", CREATE, json={"patientId": patient, "totalOutstanding": 3000})
        await call("POST", "/billing/write-off/create",
                   json={"chargeId": other["id"], "reason": "Uncollectible"})  # fmt: skip
        pair = [await call("POST", CREATE, json={"patientId": patient, "totalOutstanding": 2000})
                for _ in range(2)]  # fmt: skip
        body = [{"id": c["id"], "patientId": patient, "totalOutstanding": 0} for c in pair]
        shared = await call("POST", SETTLE, json=body,
                            params={"amount": 3000, "payment_medium": "CHECK"})  # fmt: skip
        for path in (f"/billing/charge/get/{made['id']}", f"/billing/charge/get/{other['id']}",
                     f"/v1/charge/get/{made['id']}", f"/user/patient/{patient}",
                     f"/v1/patient/{patient}"):  # fmt: skip
            await call("GET", path)
        await call("GET", "/billing/charge/list", params={"patient_id": patient})
        await call("GET", "/billing/charge/list")  # every seeded story of the upstream
    return Recording(directory, upstream, patient, made["id"], shared["id"])


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Recorded once for the module; a test that edits it works on a copy."""
    clock = ManualClock(START)
    # A small seed still tells every story once (twelve charges), and keeps the files small.
    upstream = create_app(Settings(seed=7, records=24), clock=clock)
    directory = tmp_path_factory.mktemp("decoda-recording")
    return asyncio.run(_record(directory, upstream, clock))


def reader_app(directory: Path) -> Starlette:
    return create_app(Settings(recordings_dir=directory), clock=ManualClock(START))


@pytest.fixture
async def reader(recording: Recording) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=reader_app(recording.dir))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


@pytest.fixture
async def upstream(recording: Recording) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=recording.upstream)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test") as client:
        yield client


async def get(client: httpx.AsyncClient, path: str, tenant: str = READER, **query: Any) -> Any:
    response = await client.get(path, params=query, headers=creds(tenant))
    assert response.status_code == 200, response.text
    return response.json()


def edited(
    recording: Recording,
    into: Path,
    operation_id: str,
    change: Callable[[Any], Any],
    which: int = -1,
) -> Exchange:
    """A copy of the recording in `into` whose `operation_id` answer (the last, or `which`)
    `change` edited."""
    if not any(into.iterdir()):  # a second edit goes on from the first
        shutil.copytree(recording.dir, into, dirs_exist_ok=True)
    exchange = recording.exchanges(operation_id)[which]
    data = yaml.safe_load((into / exchange.source).read_text())
    change(data["response"]["body"])
    (into / exchange.source).write_text(yaml.safe_dump(data, sort_keys=False))
    return exchange


# ---------- what was recorded is served as recorded ----------


def test_every_recorded_answer_is_taken_and_served_unchanged(recording: Recording) -> None:
    assert reader_app(recording.dir).state.sandbox.recordings.notices == ()


async def test_recorded_gets_answer_with_the_recorded_body(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    """Current and legacy shapes alike; the last answer for each path is the one served."""
    last: dict[tuple[str, str], Any] = {}
    for exchange in load_exchanges(recording.dir):
        if exchange.method == "GET" and exchange.operation_id != "listCharges":
            last[(exchange.path, exchange.query)] = exchange.response.body
    assert len(last) == 5
    for (path, query), body in last.items():
        response = await reader.get(f"{path}?{query}", headers=creds(READER))
        assert response.json() == body, path


async def test_a_recorded_list_of_one_patient_answers_as_recorded(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    [listed, _] = recording.exchanges("listCharges")
    assert len(listed.response.body) == 4
    assert await get(reader, "/billing/charge/list", patient_id=recording.patient) == (
        listed.response.body
    )


async def test_every_listed_charge_answers_as_listed(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    """The upstream's seeded charges, in every status its stories reach."""
    everything = recording.exchanges("listCharges")[-1].response.body
    assert {c["status"] for c in everything} >= {"VOID", "PAYMENT_PLAN", "REFUNDED", "WRITE_OFF"}
    recorded_ids = {c["id"] for c in everything}
    served = await get(reader, "/billing/charge/list")
    assert [c for c in served if c["id"] in recorded_ids] == everything


async def test_the_last_answer_about_a_charge_wins(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    first = recording.exchanges("getCharge")[0].response.body
    assert first["payments"] == []
    served = await get(reader, f"/billing/charge/get/{recording.charge}")
    [share] = served["payments"]
    assert (share["amount"], share["payment"]["refunds"][0]["amount"]) == (2500, 500)


async def test_recorded_records_come_on_top_of_the_seed(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    plain = create_app(Settings(), clock=ManualClock(START))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=plain), base_url="http://plain.test"
    ) as client:
        seeded = {c["id"] for c in await get(client, "/billing/charge/list")}
    served = {c["id"] for c in await get(reader, "/billing/charge/list")}
    assert seeded < served
    assert recording.charge in served - seeded


async def test_recorded_charges_have_the_upstreams_timelines(
    recording: Recording, reader: httpx.AsyncClient, upstream: httpx.AsyncClient
) -> None:
    """Every recorded charge but those on a plan (no answer shows a plan's installments):
    payments, refunds, adjustments, write-offs, a failed payment, and a void in its place.
    No answer shows a refund's description either, which a REFUND event carries."""

    def shown(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**e, "description": None} if e["type"] == "REFUND" else e for e in events]

    seen: set[str] = set()
    for listed in recording.exchanges("listCharges")[-1].response.body:
        query = {"charge_id": listed["id"]}
        theirs = await get(upstream, "/billing/charge/timeline", UPSTREAM, **query)
        if any(e["type"] == "SCHEDULED_PAYMENT" for e in theirs):
            continue
        ours = await get(reader, "/billing/charge/timeline", **query)
        assert shown(ours) == shown(theirs), listed["status"]
        seen |= {e["type"] for e in theirs}
    assert seen == {"CHARGE", "PAYMENT", "EXTERNAL_SETTLEMENT", "FAILED_PAYMENT", "REFUND",
                    "ADJUSTMENT", "WRITE_OFF", "VOID"}  # fmt: skip


async def test_a_payment_over_two_charges_pays_both(
    recording: Recording, reader: httpx.AsyncClient, upstream: httpx.AsyncClient
) -> None:
    """Each charge's answer shows its own share of the payment; the store keeps both."""
    path, query = "/billing/charge/timeline", {"payment_id": recording.shared}
    theirs = await get(upstream, path, UPSTREAM, **query)
    assert [(e["type"], e["amount"]) for e in theirs if e["id"] == recording.shared] == [
        ("EXTERNAL_SETTLEMENT", 2000), ("EXTERNAL_SETTLEMENT", 1000)
    ]  # fmt: skip
    assert await get(reader, path, **query) == theirs


# ---------- later writes follow the store's rules ----------


async def test_paying_the_rest_of_a_recorded_charge_settles_it(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    """Cash on cash: EXTERNAL_SETTLEMENT (the store's rule for charges paid only externally)."""
    body = [{"id": recording.charge, "patientId": recording.patient, "totalOutstanding": 0}]
    params: dict[str, str | int] = {"amount": 3000, "payment_medium": "CASH"}
    paid = await reader.post(SETTLE, params=params, json=body, headers=creds(READER))
    assert paid.status_code == 200, paid.text
    served = await get(reader, f"/billing/charge/get/{recording.charge}")
    assert (served["status"], served["totalOutstanding"], len(served["payments"])) == (
        "EXTERNAL_SETTLEMENT", 0, 2
    )  # fmt: skip


async def test_a_recorded_payment_refunds_only_what_it_has_left(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    payment = (await get(reader, f"/billing/charge/get/{recording.charge}"))["payments"][0]
    refund = {"paymentId": payment["paymentId"], "providerId": "prov_1", "reason": "OTHER"}
    too_much = await reader.post(
        "/billing/payment/refund", json={**refund, "amount": 2001}, headers=creds(READER)
    )
    assert too_much.status_code == 422
    assert "has 2000 left to refund" in too_much.json()["detail"]
    rest = await reader.post(
        "/billing/payment/refund", json={**refund, "amount": 2000}, headers=creds(READER)
    )
    assert rest.status_code == 200, rest.text


async def test_a_recorded_void_charge_refuses_money(
    recording: Recording, reader: httpx.AsyncClient
) -> None:
    everything = recording.exchanges("listCharges")[-1].response.body
    void = next(c for c in everything if c["status"] == "VOID")
    adjusted = await reader.post(
        "/billing/adjustment/create",
        json={"chargeId": void["id"], "amount": 100, "reason": "late"},
        headers=creds(READER),
    )
    assert adjusted.status_code == 422
    assert adjusted.json()["detail"] == f"charge {void['id']} is void"


# ---------- snapshots and determinism ----------


async def test_a_tenant_with_recorded_data_round_trips_its_snapshot(
    reader: httpx.AsyncClient,
) -> None:
    await get(reader, "/billing/charge/list")
    await assert_state_round_trips(reader, READER)


def test_same_recordings_give_byte_identical_tenants(recording: Recording) -> None:
    """Nothing derived from a recording comes from the wall clock or an unseeded source."""
    stores = [reader_app(recording.dir).state.sandbox.tenant(READER).store("decoda")
              for _ in range(2)]  # fmt: skip
    assert export_state(stores[0]) == export_state(stores[1])


# ---------- what cannot be taken is named, and changes nothing ----------


async def test_a_value_the_store_keeps_no_place_for_is_loaded_without_it_and_named(
    recording: Recording, tmp_path: Path
) -> None:
    """The store keeps no event id: the charge's last answer is taken (its new description
    with it), served with a null event id, and the banner's notice says so."""
    [_, last] = recording.exchanges("listCharges")
    [shown] = [c for c in last.response.body if c["id"] == recording.charge]

    def with_event(body: Any) -> None:
        index = next(i for i, c in enumerate(body) if c["id"] == recording.charge)
        body[index].update(eventId="evt_1", description="Changed")
        with_event.index = index  # type: ignore[attr-defined]

    exchange = edited(recording, tmp_path, "listCharges", with_event)
    app = reader_app(tmp_path)
    assert app.state.sandbox.recordings.skipped == ()
    [changed] = app.state.sandbox.recordings.changed
    assert changed.source == exchange.source
    assert changed.reason == (
        f"charge {recording.charge}: loaded, but the sandbox serves "
        f'$[{with_event.index}].eventId as null, not as recorded ("evt_1"): it keeps no such '  # type: ignore[attr-defined]
        "value"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        listed = await get(client, "/billing/charge/list")
    [served] = [c for c in listed if c["id"] == recording.charge]
    assert served == {**shown, "description": "Changed", "eventId": None}


def test_a_charge_whose_item_no_answer_shows_is_skipped(
    recording: Recording, tmp_path: Path
) -> None:
    def unknown_item(body: Any) -> None:
        body["items"][0]["itemId"] = "item_unknown"

    created = edited(recording, tmp_path, "createCharge", unknown_item, which=0)
    [skipped] = reader_app(tmp_path).state.sandbox.recordings.skipped
    assert skipped.source == created.source
    assert "catalogue item item_unknown is in no earlier answer" in skipped.reason


def test_a_legacy_patient_of_a_type_the_current_api_lacks_is_skipped(
    recording: Recording, tmp_path: Path
) -> None:
    exchange = edited(recording, tmp_path, "getPatientV1", lambda body: body.update(type="ROBOT"))
    [skipped] = reader_app(tmp_path).state.sandbox.recordings.skipped
    assert skipped.source == exchange.source
    assert "type 'ROBOT' is not one the current API serves" in skipped.reason


async def test_what_a_patient_spent_follows_the_payments_held(
    recording: Recording, tmp_path: Path
) -> None:
    """`totalSpent` is not a record: a recorded number is not compared, nor served."""
    edited(recording, tmp_path, "getPatient", lambda body: body.update(totalSpent=12345))
    assert reader_app(tmp_path).state.sandbox.recordings.skipped == ()
    transport = httpx.ASGITransport(app=reader_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        chart = await get(client, f"/user/patient/{recording.patient}")
    assert chart["totalSpent"] == 2500 - 500 + 3000


async def test_a_payment_a_recorded_charge_no_longer_shows_stops_paying_it(
    recording: Recording, tmp_path: Path
) -> None:
    """The curated charge's cash payment is seeded here too; the recording says it is gone."""

    def unpaid(body: Any) -> None:
        charge = next(c for c in body if c["id"] == PART_PAID)
        charge.update(payments=[], totalOutstanding=6000, status="OUTSTANDING")

    edited(recording, tmp_path, "listCharges", unpaid)
    transport = httpx.ASGITransport(app=reader_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        assert await get(client, "/billing/charge/timeline", payment_id=PAYMENT) == []


def test_a_time_written_another_way_is_the_same_time(recording: Recording, tmp_path: Path) -> None:
    """With milliseconds, or +00:00: the sandbox writes it with Z, the same instant."""
    [created] = recording.exchanges("createPatientV1")
    assert created.response.body["createdDate"].endswith("Z")

    def respelled(body: Any) -> None:
        body["createdDate"] = body["createdDate"].replace("Z", ".000Z")

    edited(recording, tmp_path, "createPatientV1", respelled)
    edited(
        recording,
        tmp_path,
        "getPatientV1",
        lambda b: b.update(createdDate=b["createdDate"].replace("Z", "+00:00")),
    )
    assert reader_app(tmp_path).state.sandbox.recordings.skipped == ()


def test_a_payment_by_a_patient_no_answer_shows_is_skipped(
    recording: Recording, tmp_path: Path
) -> None:
    def paid_by_a_stranger(body: Any) -> None:
        body["payments"][0]["payment"]["patientId"] = "pat_stranger"

    after_refund = edited(recording, tmp_path, "getCharge", paid_by_a_stranger, which=1)
    [skipped] = reader_app(tmp_path).state.sandbox.recordings.skipped
    assert skipped.source == after_refund.source
    assert "was made by patient pat_stranger, who is in no earlier answer" in skipped.reason


async def test_a_legacy_patient_without_a_first_name_has_none_in_the_current_api(
    recording: Recording, tmp_path: Path
) -> None:
    """The legacy shape writes the missing name as ""; the current one as null."""
    [created] = recording.exchanges("createPatientV1")
    shutil.copy(recording.dir / created.source, tmp_path)
    edited(recording, tmp_path, "createPatientV1", lambda body: body.update(firstName=""))
    transport = httpx.ASGITransport(app=reader_app(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        assert (await get(client, f"/v1/patient/{recording.patient}"))["firstName"] == ""
        assert (await get(client, f"/user/patient/{recording.patient}"))["firstName"] is None


def test_a_succeeded_payment_is_served_with_no_update_time(
    recording: Recording, tmp_path: Path
) -> None:
    """The store keeps only a failure's time: taking this one as such would put a failure
    on the timeline of a payment that succeeded, so it is loaded without it, and named."""

    def updated(body: Any) -> None:
        body["payments"][0]["payment"]["updatedDate"] = "2026-03-02T09:00:00Z"

    after_refund = edited(recording, tmp_path, "getCharge", updated, which=1)
    recordings = reader_app(tmp_path).state.sandbox.recordings
    assert recordings.skipped == ()
    [changed] = recordings.changed
    assert changed.source == after_refund.source
    assert "$.payments[0].payment.updatedDate as null" in changed.reason
