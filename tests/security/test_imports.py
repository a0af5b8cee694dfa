"""Imports are checked in full: a snapshot, a state file or a spill file that would serve a
record off its spec, name a record it lacks, or carry a number past its bound is refused
before anything is replaced (a 422, or exit 2 at start) naming the tenant, the kind of record,
its id and the field; a mutated snapshot never makes a later list call answer 500; spill
files are named safely on any filesystem."""

from __future__ import annotations

import asyncio
import copy
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.settings import Settings
from billing_sandbox.spec.validation import SchemaCheck
from billing_sandbox.state.spill import SUFFIX, _file_name
from tests.support.processes import free_port

TENANT = "acme"
STATE = f"/_sandbox/tenants/{TENANT}/state"
DECODA = {"TENANT": TENANT, "API-KEY": "k"}
# The seed's own records (a snapshot of ten) keep the fuzzing below fast.
RECORDS = 10
Snapshot = dict[str, Any]


def new_app(**options: Any) -> Starlette:
    clock = ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    return create_app(Settings(records=RECORDS, **options), clock=clock)


def client_of(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


@pytest.fixture
def small_app() -> Starlette:
    return new_app()


@pytest.fixture
async def http(small_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(small_app) as c:
        yield c


async def candid_headers(client: httpx.AsyncClient) -> dict[str, str]:
    body = {"client_id": TENANT, "client_secret": "s"}
    token = (await client.post("/api/auth/v2/token", json=body)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def mycure_headers(client: httpx.AsyncClient) -> dict[str, str]:
    # MYCURE's tenant is the email's domain: `ana@acme` signs in to tenant `acme`.
    body = {"strategy": "local", "email": f"ana@{TENANT}", "password": "p"}
    signed_in = await client.post("/authentication", json=body)
    assert signed_in.status_code == 201, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['accessToken']}"}


async def every_api_used(client: httpx.AsyncClient, app: Starlette) -> bytes:
    """Tenant `acme` with records of all three APIs (a webhook with a delivery among them,
    its first try made); its export."""
    listed = await client.get("/api/write-offs/v1", headers=await candid_headers(client))
    assert listed.status_code == 200, listed.text
    await mycure_headers(client)
    hook = {"url": "http://127.0.0.1:9/hook", "subscriptions": ["CHARGE_CREATED"]}
    assert (await client.post("/webhook/decoda/create", json=hook, headers=DECODA)).is_success
    charge = {"patientId": "pat_sandbox_0001", "totalOutstanding": 700}
    made = await client.post("/billing/payment-terminal/charge/create", json=charge, headers=DECODA)
    assert made.status_code == 200, made.text
    await app.state.courier.idle()
    return await export(client)


async def export(client: httpx.AsyncClient) -> bytes:
    response = await client.get(STATE)
    assert response.status_code == 200, response.text
    return response.content


# ---- a bad record is a 422 naming the tenant, the kind, the id and the field ----


def first(snap: Snapshot, api: str, table: str, where: Callable[[Any], bool] = bool) -> Any:
    return next(row for row in snap["apis"][api][table] if where(row))


def set_field(api: str, table: str, field: str, value: Any) -> Any:
    def mutate(snap: Snapshot) -> Any:
        row = first(snap, api, table)
        row[field] = value
        return row

    return mutate


def set_line_quantity(snap: Snapshot) -> Any:
    charge = first(snap, "decoda", "charges", lambda c: c["lines"])
    charge["lines"][0]["quantity"] = 1_000_000  # the spec bounds a line at ±100000
    return charge


def list_a_payment_that_paid_nothing_of_it(snap: Snapshot) -> Any:
    """A charge listing a payment whose money went to other charges only."""
    charges = snap["apis"]["decoda"]["charges"]
    payment = first(snap, "decoda", "payments", lambda p: p["allocations"])
    charge = next(c for c in charges if c["id"] not in payment["allocations"])
    charge["payment_ids"].append(payment["id"])
    return charge


def unreadable_street_address(snap: Snapshot) -> Any:
    payer = first(snap, "candid", "payers")
    payer["street_address"] = {"address1": 1}
    return payer


Mutation = Callable[[Snapshot], Any]
# Each accepted by the old checks (the shape was right), then served off the spec: a 500.
BAD_RECORDS: dict[str, tuple[str, str, Mutation, str, str]] = {
    "write-off reason outside the enum": (
        "candid", "write_offs", set_field("candid", "write_offs", "write_off_reason", "WHIM"),
        "write_off_id", "write_off_reason",
    ),
    "write-off amount past 64 bits": (
        "candid", "write_offs", set_field("candid", "write_offs", "amount_cents", 2**64 - 1),
        "write_off_id", "amount_cents",
    ),
    "payer off its schema": (
        "candid", "payers", unreadable_street_address, "payer_uuid", "street_address",
    ),
    "adjustment past the amount bound": (
        "candid", "adjustments", set_field("candid", "adjustments", "amount_cents", 2**60),
        "adjustment_id", "amount_cents",
    ),
    "charge status outside the enum": (
        "decoda", "charges", set_field("decoda", "charges", "status", "HAPPY"), "id", "status",
    ),
    "line quantity past its bound": (
        "decoda", "charges", set_line_quantity, "id", "quantity",
    ),
    "adjustment type outside the enum": (
        "decoda", "adjustments", set_field("decoda", "adjustments", "adjustment_type", "GIFT"),
        "id", "adjustmentType",
    ),
    "charge naming a payment that paid nothing of it": (
        "decoda", "charges", list_a_payment_that_paid_nothing_of_it, "id", "payment_ids",
    ),
    "credit past the largest safe integer": (
        "decoda", "patients", set_field("decoda", "patients", "credit_balance", 2**62),
        "id", "credit_balance",
    ),
    "statement with negative payment terms": (
        "mycure", "soas", set_field("mycure", "soas", "paymentTerms", -1), "id", "paymentTerms",
    ),
    "statement coverage outside the enum": (
        "mycure", "soas", set_field("mycure", "soas", "coveragePaymentMethod", "barter"),
        "id", "coveragePaymentMethod",
    ),
    "account created before 1970": (
        "mycure", "accounts", set_field("mycure", "accounts", "createdAt", -5), "uid",
        "createdAt",
    ),
}  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize("case", BAD_RECORDS)
async def test_a_record_served_off_its_spec_is_a_422_naming_it_and_changes_nothing(
    http: httpx.AsyncClient, small_app: Starlette, case: str
) -> None:
    api, table, mutate, id_field, field = BAD_RECORDS[case]
    snap = orjson.loads(await every_api_used(http, small_app))
    record = mutate(snap)
    await http.post("/user/patient/create", json={"firstName": "Later"}, headers=DECODA)
    await small_app.state.courier.idle()
    current = await export(http)
    response = await http.put(STATE, content=orjson.dumps(snap))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "InvalidSnapshot"
    message = body["message"]
    for said in (f"tenant '{TENANT}'", f"{api} {table} '{record[id_field]}'", field):
        assert said in message, message
    assert await export(http) == current


# ---- a mutated snapshot never makes a later list call answer 500 ----


def list_calls(snap: Snapshot) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(API, operationId, path, query) of every list call of the tenant, over the records the
    snapshot names (a timeline per charge, deliveries per webhook)."""
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        ("candid", "getWriteOffs", "/api/write-offs/v1", {"limit": 999}),
        ("candid", "getWriteOffs", "/api/write-offs/v1",
         {"limit": 999, "sort": "amount_cents", "sort_direction": "asc"}),
        ("candid", "getWriteOffs", "/api/write-offs/v1", {"limit": 3, "sort": "write_off_note"}),
        ("decoda", "listCharges", "/billing/charge/list", {}),
        ("decoda", "listPatientsV1", "/v1/patient/list", {"n": 1000}),
        ("decoda", "listWebhooks", "/webhook/decoda/list", {"include_archived": "true"}),
        ("decoda", "listWebhooksV1", "/v1/webhook/list", {}),
        ("mycure", "findBillingSoas", "/billing-soas", {"$limit": 1000}),
        ("mycure", "findBillingSoas", "/billing-soas", {"$sort[note]": 1, "$limit": 1000}),
        ("mycure", "findBillingSoas", "/billing-soas", {"$sort[paymentTerms]": -1}),
    ]  # fmt: skip
    for sort_by in ("created_date", "total", "total_outstanding", "status"):
        query = {"n": 1000, "sort_by": sort_by}
        calls.append(("decoda", "listChargesV1", "/v1/charge/list", query))
    decoda = snap.get("apis", {}).get("decoda", {})
    for charge_id in _ids(decoda.get("charges"))[:4]:
        calls.append(("decoda", "getChargeTimeline", "/billing/charge/timeline",
                      {"charge_id": charge_id}))  # fmt: skip
    for payment_id in _ids(decoda.get("payments"))[:2]:
        calls.append(("decoda", "getChargeTimeline", "/billing/charge/timeline",
                      {"payment_id": payment_id}))  # fmt: skip
    for hook_id in _ids(decoda.get("webhooks")):
        path = f"/webhook/decoda/{hook_id}/delivery-attempts/list"
        calls.append(("decoda", "listWebhookDeliveries", path, {}))
    return calls


def _ids(rows: Any) -> list[str]:
    """The text ids of a table a mutation may have broken in any way."""
    if not isinstance(rows, list):
        return []
    found = [row.get("id") for row in rows if isinstance(row, dict)]
    return [value for value in found if isinstance(value, str) and value]


SPECS = {"candid": "candid-write-offs", "decoda": "decoda-billing", "mycure": "mycure-billing-soas"}


def response_check(sandbox: Sandbox, api: str, operation_id: str, status: int) -> SchemaCheck:
    spec = sandbox.spec(SPECS[api])
    [operation] = [op for op in spec.operations if op.operation_id == operation_id]
    check = operation.response_checks[status]
    assert check is not None, (operation_id, status)
    return check


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in a JSON document, containers included."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip
HOSTILE_NUMBERS = st.sampled_from(
    [-1, 0, -(2**31) - 1, 2**31, 2**53, 2**63 - 1, -(2**63), 2**64 - 1, 1e300, -1e300, 0.5]
)


def mutation(snap: Snapshot, texts: list[str]) -> st.SearchStrategy[tuple[str, Snapshot]]:
    """One hostile change to the snapshot: a value replaced (by another JSON type, a huge or
    negative number, a huge string, null, or another record's id), a key dropped, or a
    record duplicated."""
    paths = [path for path in leaves(snap) if path]
    keyed = [path for path in paths if isinstance(path[-1], str)]
    listed = [path for path in paths if isinstance(at(snap, path), list) and at(snap, path)]

    def replace(path: tuple[Any, ...], value: Any) -> tuple[str, Snapshot]:
        changed = copy.deepcopy(snap)
        at(changed, path[:-1])[path[-1]] = value
        return f"{path} = {value!r:.60}", changed

    def drop(path: tuple[Any, ...]) -> tuple[str, Snapshot]:
        changed = copy.deepcopy(snap)
        del at(changed, path[:-1])[path[-1]]
        return f"del {path}", changed

    def duplicate(path: tuple[Any, ...]) -> tuple[str, Snapshot]:
        changed = copy.deepcopy(snap)
        rows = at(changed, path)
        rows.append(copy.deepcopy(rows[0]))
        return f"{path} + a copy of its first", changed

    value = (
        JSON_VALUES | HOSTILE_NUMBERS | st.just("x" * 100_000) | st.none()
        | st.sampled_from(texts)
    )  # fmt: skip
    paths_st = st.sampled_from(paths)
    return st.one_of(
        st.builds(replace, paths_st, value),
        st.builds(drop, st.sampled_from(keyed)),
        st.builds(duplicate, st.sampled_from(listed)),
    )


def test_a_mutated_snapshot_never_makes_a_list_call_answer_500() -> None:
    """Accepted: every list call of every API answers below 500, with a body its spec allows.
    Refused: a 4xx, and the tenant exports exactly as before."""
    app = new_app()
    loop = asyncio.new_event_loop()
    client = client_of(app)
    run = loop.run_until_complete
    try:
        saved = run(every_api_used(client, app))
        snap = orjson.loads(saved)
        texts = sorted({v for p in leaves(snap) if isinstance(v := at(snap, p), str)})[:400]
        mutations = mutation(snap, texts)

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.data())
        def check(data: st.DataObject) -> None:
            said, changed = data.draw(mutations)
            run(_import_and_list(client, app, saved, said, changed))

        check()
    finally:
        run(client.aclose())
        loop.close()


async def _import_and_list(
    client: httpx.AsyncClient, app: Starlette, saved: bytes, said: str, changed: Snapshot
) -> None:
    sandbox: Sandbox = app.state.sandbox
    response = await client.put(STATE, content=orjson.dumps(changed))
    # A webhook delivery an import made due is tried at once: let it settle.
    await app.state.courier.idle()
    if not response.is_success:
        assert 400 <= response.status_code < 500, (said, response.text)
        # Quoted values are cut short: a 100 kB id makes no 100 kB answer (nor log line).
        assert len(response.content) <= 2_000, (said, response.text[:300])
        assert await export(client) == saved, said
        return
    headers = {
        "candid": await candid_headers(client),
        "decoda": DECODA,
        "mycure": await mycure_headers(client),
    }
    for api, operation_id, path, query in list_calls(changed):
        answer = await client.get(path, params=query, headers=headers[api])
        assert answer.status_code < 500, (said, operation_id, query, answer.text)
        if answer.is_success:
            check = response_check(sandbox, api, operation_id, answer.status_code)
            assert check.is_valid(answer.json()), (said, operation_id, answer.text[:300])
    await app.state.courier.idle()
    restored = await client.put(STATE, content=saved)
    assert restored.status_code == 200, restored.text
    await app.state.courier.idle()


# ---- at start: a bad state file stops the server, naming the same ----


def test_a_state_file_with_a_record_off_its_spec_exits_2_naming_it(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    app = new_app()
    client = client_of(app)
    try:
        everyone = loop.run_until_complete(_state_of_every_tenant(client, app))
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    charge = everyone["tenants"][TENANT]["apis"]["decoda"]["charges"][0]
    charge["status"] = "HAPPY"
    state_file = tmp_path / "state.json"
    state_file.write_bytes(orjson.dumps(everyone))
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(free_port()),
               "--state-file", str(state_file)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"billing-sandbox: state file {state_file} cannot be loaded")
    for said in (f"tenant '{TENANT}'", f"decoda charges '{charge['id']}'", "status"):
        assert said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


async def _state_of_every_tenant(client: httpx.AsyncClient, app: Starlette) -> Any:
    await every_api_used(client, app)
    return (await client.get("/_sandbox/state")).json()


# ---- spill files: checked when loaded back, and named safely ----


@pytest.mark.anyio
async def test_a_tampered_spill_file_is_refused_naming_the_record(tmp_path: Path) -> None:
    """A spilled tenant whose file was edited on disk answers that it cannot be loaded back
    (naming the record), instead of serving a record off its spec; other tenants work."""
    spill = tmp_path / "spill"
    app = new_app(max_tenants=1, state_dir=spill)
    async with client_of(app) as client:
        await every_api_used(client, app)
        await client.post("/user/patient/create", json={}, headers=of("b"))
        [file] = list(spill.glob("*.tenant.json"))
        snap = orjson.loads(file.read_bytes())
        charge = snap["apis"]["decoda"]["charges"][0]
        charge["status"] = "HAPPY"
        file.write_bytes(orjson.dumps(snap))
        answer = await client.get("/billing/charge/list", headers=DECODA)
        assert f"decoda charges '{charge['id']}'" in answer.text, answer.text
        assert "status" in answer.text
        other = await client.get("/billing/charge/list", headers=of("b"))
        assert other.status_code == 200, other.text


@pytest.mark.anyio
async def test_tenant_ids_differing_only_in_case_never_share_a_spill_file(
    tmp_path: Path,
) -> None:
    """On macOS and Windows `Acme` and `acme` name one file unless their names differ by more
    than case; `acSe` is `acme`'s twin under base64 (`YWNTZQ`, `YWNtZQ`)."""
    spill = tmp_path / "spill"
    tenants = ["Acme", "acme", "acSe", "ACME"]
    async with client_of(new_app(max_tenants=1, state_dir=spill)) as client:
        for tenant in [*tenants, "last"]:
            patient = {"firstName": tenant}
            made = await client.post("/user/patient/create", json=patient, headers=of(tenant))
            assert made.status_code == 200, made.text
        names = [path.name for path in spill.glob("*.tenant.json")]
        assert len(names) == len(tenants)
        assert len({name.casefold() for name in names}) == len(tenants), names
        for tenant in tenants:
            found = await client.get("/v1/patient/list", headers=of(tenant))
            assert tenant in {patient["firstName"] for patient in found.json()}


def of(tenant: str) -> dict[str, str]:
    return {**DECODA, "TENANT": tenant}


# Names Windows keeps for devices, whatever follows the dot (`NUL.tenant.json` too).
RESERVED = re.compile(r"(con|prn|aux|nul|com\d|lpt\d|conin\$|conout\$)", re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.sampled_from(["..", ".", "../x", "CON", "nul", "a/b", "c:\\"]))
def test_a_spill_file_name_is_safe_for_any_tenant_id(tenant_id: str) -> None:
    name = _file_name(tenant_id)
    stem = name.removesuffix(SUFFIX)
    assert name.endswith(SUFFIX)
    assert re.fullmatch(r"[a-z0-9-]+", stem), name  # no separator, dot, case or drive letter
    assert not RESERVED.fullmatch(name.split(".")[0]), name
    assert len(name.encode()) <= 255


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
@example("acme", "acSe")  # base64 `YWNtZQ` and `YWNTZQ`: one file where case is ignored
@example("Acme", "acme")
def test_different_tenant_ids_get_names_that_differ_beyond_case(one: str, other: str) -> None:
    if one != other:
        assert _file_name(one).casefold() != _file_name(other).casefold()
