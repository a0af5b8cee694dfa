"""The control API's Python client (`billing_sandbox.testing`), through a served sandbox."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing_sandbox.settings import Settings
from billing_sandbox.testing import (
    AddedRules,
    FaultRule,
    JournalTimeout,
    SandboxControl,
    SandboxError,
    SandboxServer,
    SandboxTenant,
    SandboxTenantFactory,
    serve,
)

CHARGE = "/billing/charge/get/chg_sandbox_0001"
PATIENT = "pat_sandbox_0001"
FROZEN = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def http(billing_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=billing_sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def guarded() -> Iterator[SandboxServer]:
    """A sandbox of this module's own, with a control token (and free to reset whole)."""
    with serve(Settings(control_token="s3cret")) as server:
        yield server


def get_charge(http: httpx.Client, tenant: SandboxTenant, path: str = CHARGE) -> httpx.Response:
    return http.get(path, headers=tenant.decoda_headers)


def new_patient(http: httpx.Client, tenant: SandboxTenant) -> str:
    made = http.post("/user/patient/create", json={"firstName": "Ada", "lastName": "Lovelace"},
                     headers=tenant.decoda_headers)  # fmt: skip
    assert made.status_code == 200, made.text
    patient: str = made.json()["id"]
    return patient


# ---- faults ----


def test_an_injected_fault_answers_its_status_and_is_gone_after_the_block(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    with sandbox_tenant.faults.injected(operation_id="getCharge", status=500) as rule:
        faulted = get_charge(http, sandbox_tenant)
        assert faulted.status_code == 500 and "injected" in faulted.json()["detail"]
        assert [r.id for r in sandbox_tenant.faults.rules()] == [rule.id]
    assert sandbox_tenant.faults.rules() == []
    assert get_charge(http, sandbox_tenant).status_code == 200


def test_an_injected_fault_is_removed_when_the_block_raises(
    sandbox_tenant: SandboxTenant,
) -> None:
    with pytest.raises(KeyError), sandbox_tenant.faults.injected(status=500):
        raise KeyError("the test failed inside the block")
    assert sandbox_tenant.faults.rules() == []


def test_an_injected_fault_already_gone_is_no_error_on_exit(
    sandbox_tenant: SandboxTenant,
) -> None:
    with sandbox_tenant.faults.injected(status=500, count=1):
        assert sandbox_tenant.faults.clear() == 1
    assert sandbox_tenant.faults.rules() == []


def test_a_tenants_faults_match_only_that_tenant(
    http: httpx.Client, sandbox_tenant: SandboxTenant, sandbox_tenant_factory: SandboxTenantFactory
) -> None:
    other = sandbox_tenant_factory("other")
    rule = sandbox_tenant.faults.add(api="decoda", status=500)
    assert rule.match == {"api": "decoda", "tenant": sandbox_tenant.id}
    assert get_charge(http, sandbox_tenant).status_code == 500
    assert get_charge(http, other).status_code == 200
    assert other.faults.rules() == []


def test_a_rule_with_a_count_fires_that_often_and_says_so(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    rule = sandbox_tenant.faults.add(path="/billing/charge/get/{id}", status=500, count=2)
    statuses = [get_charge(http, sandbox_tenant).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    [listed] = sandbox_tenant.faults.rules()
    assert (listed.id, listed.count, listed.fired) == (rule.id, 2, 2)


def test_a_removed_rule_cannot_be_removed_again(sandbox_tenant: SandboxTenant) -> None:
    rule = sandbox_tenant.faults.add(delay_ms=1)
    assert sandbox_tenant.faults.remove(rule) == rule
    with pytest.raises(SandboxError, match="answered 404") as raised:
        sandbox_tenant.faults.remove(rule.id)
    assert raised.value.status == 404 and rule.id in raised.value.message


def test_clearing_a_tenants_faults_leaves_other_tenants_rules(
    billing_sandbox: SandboxServer,
    sandbox_tenant: SandboxTenant,
    sandbox_tenant_factory: SandboxTenantFactory,
) -> None:
    other = sandbox_tenant_factory("other")
    sandbox_tenant.faults.add(status=500)
    kept = other.faults.add(status=503)
    assert sandbox_tenant.faults.clear() == 1
    assert kept in billing_sandbox.control.faults.rules()
    assert other.faults.rules() == [kept]


def test_removing_the_added_rules_removes_only_those_added_since_the_mark(
    billing_sandbox: SandboxServer, sandbox_tenant: SandboxTenant
) -> None:
    ledger = AddedRules()
    mine = SandboxControl(billing_sandbox.url, billing_sandbox.control_token, added_rules=ledger)
    before = mine.tenant(sandbox_tenant.id).faults.add(status=500)
    mark = ledger.mark()
    after = [mine.faults.add(tenant=sandbox_tenant.id, status=502),
             mine.tenant(sandbox_tenant.id).faults.add(status=503)]  # fmt: skip
    theirs = billing_sandbox.control.faults.add(tenant=sandbox_tenant.id, status=504)
    assert mine.faults.remove_added(since=mark) == len(after)
    assert sandbox_tenant.faults.rules() == [before, theirs]
    assert mine.faults.remove_added(since=mark) == 0  # nothing noted is left


def test_removing_the_added_rules_spares_a_rule_that_took_the_id_of_one(
    billing_sandbox: SandboxServer, sandbox_tenant: SandboxTenant
) -> None:
    """A sandbox that restarted numbers its rules from 1 again: a rule of the same id that
    matches something else is not the one added."""
    theirs = billing_sandbox.control.faults.add(tenant=sandbox_tenant.id, status=504)
    ledger = AddedRules()
    ledger.added(FaultRule(theirs.id, {"tenant": "before-the-restart.test"}, {"status": 500},
                           1.0, None, 0))  # fmt: skip
    mine = SandboxControl(billing_sandbox.url, billing_sandbox.control_token, added_rules=ledger)
    assert mine.faults.remove_added() == 0
    assert sandbox_tenant.faults.rules() == [theirs]
    assert ledger.since(0) == []


def test_a_rule_the_sandbox_refuses_is_a_sandbox_error_naming_422(
    sandbox_tenant: SandboxTenant,
) -> None:
    with pytest.raises(SandboxError, match="answered 422"):
        sandbox_tenant.faults.add(api="stripe", status=500)
    with pytest.raises(TypeError, match="no colour"):
        sandbox_tenant.faults.add(colour="red", status=500)  # type: ignore[call-arg]
    assert sandbox_tenant.faults.rules() == []


# ---- clock ----


def test_freezing_stops_the_tenants_time_and_resuming_runs_it_again(
    sandbox_tenant: SandboxTenant,
) -> None:
    frozen = sandbox_tenant.clock.freeze(FROZEN)
    assert (frozen.tenant, frozen.now, frozen.frozen) == (sandbox_tenant.id, FROZEN, True)
    time.sleep(0.01)
    assert sandbox_tenant.clock.now() == FROZEN
    resumed = sandbox_tenant.clock.resume()
    assert resumed.frozen is False and resumed.now >= FROZEN


def test_advancing_by_seconds_or_a_timedelta_moves_a_frozen_clock(
    sandbox_tenant: SandboxTenant,
) -> None:
    sandbox_tenant.clock.freeze(FROZEN)
    assert sandbox_tenant.clock.advance(90).now == FROZEN + timedelta(seconds=90)
    later = sandbox_tenant.clock.advance(timedelta(days=1))
    assert later.now == FROZEN + timedelta(days=1, seconds=90)


def test_advancing_the_clock_settles_a_decoda_installment(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    headers = sandbox_tenant.decoda_headers
    made = http.post("/billing/payment-terminal/charge/create", headers=headers,
                     json={"patientId": PATIENT, "totalOutstanding": 10_000}).json()  # fmt: skip
    plan = {"initialAmount": 0, "chargeIds": [made["id"]], "frequency": "MONTHLY",
            "installments": 3, "installmentAmount": 4000}  # fmt: skip
    body = {"charges": [{"id": made["id"], "patientId": PATIENT, "totalOutstanding": 0}],
            "paymentPlan": plan, "rainforestPaymentMethodId": "pm_sandbox"}  # fmt: skip
    planned = http.post("/billing/payment-plan/create-with-charges", json=body, headers=headers)
    assert planned.status_code == 200, planned.text
    events = http.get("/billing/charge/timeline", params={"charge_id": made["id"]},
                      headers=headers).json()  # fmt: skip
    [first, second, third] = [e["id"] for e in events if e["type"] == "SCHEDULED_PAYMENT"]
    settled = sandbox_tenant.clock.advance(timedelta(days=32)).settled_installments
    assert {first, second} <= set(settled) and third not in settled  # 4000 today, 4000 in a month
    charge = get_charge(http, sandbox_tenant, f"/billing/charge/get/{made['id']}").json()
    assert charge["totalOutstanding"] == 2_000


def test_advancing_the_clock_expires_a_candid_token(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    headers = sandbox_tenant.candid_headers()
    assert http.get("/api/write-offs/v1", headers=headers).status_code == 200
    sandbox_tenant.clock.advance(timedelta(hours=5, seconds=1))  # Candid tokens live 5 h
    expired = http.get("/api/write-offs/v1", headers=headers)
    assert expired.status_code == 401 and "expired" in expired.text


def test_a_clock_change_the_sandbox_cannot_make_is_refused_before_sending(
    sandbox_tenant: SandboxTenant,
) -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        sandbox_tenant.clock.advance(1.5)
    with pytest.raises(ValueError, match="timezone-aware"):
        sandbox_tenant.clock.freeze(datetime(2030, 5, 1))
    with pytest.raises(SandboxError, match="answered 422"):
        sandbox_tenant.clock.advance(-1)
    assert sandbox_tenant.clock.state().frozen is False


# ---- journal ----


def test_the_journal_filters_and_pages_a_tenants_requests(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    for _ in range(3):
        get_charge(http, sandbox_tenant)
    get_charge(http, sandbox_tenant, "/billing/charge/get/chg_missing")
    [missing] = sandbox_tenant.journal.query(status=404).entries
    assert (missing.path, missing.api, missing.tenant) == (
        "/billing/charge/get/chg_missing", "decoda", sandbox_tenant.id)  # fmt: skip
    first = sandbox_tenant.journal.query(operation_id="getCharge", limit=3)
    assert [e.status for e in first.entries] == [404, 200, 200]
    assert first.next_before is not None
    rest = sandbox_tenant.journal.query(operation_id="getCharge", before=first.next_before)
    assert [e.status for e in rest.entries] == [200] and rest.next_before is None
    assert len(list(sandbox_tenant.journal.entries(since=missing.time))) == 1


def test_the_whole_servers_journal_takes_a_tenant_filter(
    http: httpx.Client, billing_sandbox: SandboxServer, sandbox_tenant: SandboxTenant
) -> None:
    get_charge(http, sandbox_tenant)
    page = billing_sandbox.control.journal.query(tenant=sandbox_tenant.id, api="decoda")
    assert [(e.operation_id, e.response_json()["id"]) for e in page.entries] == [
        ("getCharge", "chg_sandbox_0001")
    ]


def test_wait_for_finds_a_request_made_while_it_waits(
    billing_sandbox: SandboxServer, sandbox_tenant: SandboxTenant
) -> None:
    def later() -> None:
        time.sleep(0.2)
        with httpx.Client(base_url=billing_sandbox.url) as http:
            get_charge(http, sandbox_tenant, "/billing/charge/get/chg_sandbox_0002")

    caller = threading.Thread(target=later)
    caller.start()
    try:
        found = sandbox_tenant.journal.wait_for(
            lambda entry: entry.path.endswith("chg_sandbox_0002"), timeout=5
        )
    finally:
        caller.join()
    assert (found.operation_id, found.status) == ("getCharge", 200)


def test_wait_for_times_out_with_what_it_looked_for_and_saw(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    get_charge(http, sandbox_tenant)
    started = time.monotonic()
    with pytest.raises(JournalTimeout) as raised:
        sandbox_tenant.journal.wait_for(lambda entry: entry.status == 500, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    message = str(raised.value)
    assert f"tenant={sandbox_tenant.id!r}" in message and "within 0.3 s" in message
    assert "GET /billing/charge/get/chg_sandbox_0001 (decoda getCharge) → 200" in message


def test_clearing_a_tenants_journal_forgets_its_requests(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    get_charge(http, sandbox_tenant)
    assert sandbox_tenant.journal.clear() == 1
    assert sandbox_tenant.journal.query().entries == []


# ---- snapshots, reset, reference data ----


def test_a_snapshot_block_undoes_the_tenants_writes(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    kept = new_patient(http, sandbox_tenant)
    with sandbox_tenant.snapshot() as saved:
        assert saved["tenant"] == sandbox_tenant.id
        written = new_patient(http, sandbox_tenant)
    headers = sandbox_tenant.decoda_headers
    assert http.get(f"/user/patient/{written}", headers=headers).status_code == 404
    assert http.get(f"/user/patient/{kept}", headers=headers).status_code == 200


def test_a_snapshot_block_restores_the_tenant_when_it_raises(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    with pytest.raises(RuntimeError), sandbox_tenant.snapshot():
        sandbox_tenant.clock.freeze(FROZEN)
        raise RuntimeError("the test failed inside the block")
    assert sandbox_tenant.clock.state().frozen is False


def test_an_exported_state_imports_into_another_tenant_of_the_same_data(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    exported = sandbox_tenant.export_state()
    written = new_patient(http, sandbox_tenant)
    answer = sandbox_tenant.import_state(exported)
    assert answer["tenants"] == {sandbox_tenant.id: sorted(exported["apis"])}
    headers = sandbox_tenant.decoda_headers
    assert http.get(f"/user/patient/{written}", headers=headers).status_code == 404


def test_reset_forgets_one_tenants_records(
    http: httpx.Client, sandbox_tenant: SandboxTenant
) -> None:
    written = new_patient(http, sandbox_tenant)
    sandbox_tenant.reset()
    headers = sandbox_tenant.decoda_headers
    assert http.get(f"/user/patient/{written}", headers=headers).status_code == 404


def test_reset_of_the_whole_server_forgets_every_tenant(guarded: SandboxServer) -> None:
    control = guarded.control
    control.clock("a.test").freeze(FROZEN)
    control.clock("b.test").freeze(FROZEN)
    control.reset()
    assert [control.clock(tenant).state().frozen for tenant in ("a.test", "b.test")] == [False] * 2


def test_reference_records_are_those_of_the_tenant(sandbox_tenant: SandboxTenant) -> None:
    patients = sandbox_tenant.reference("decoda")["patients"]
    assert PATIENT in {patient["id"] for patient in patients}
    with pytest.raises(SandboxError, match="answered 422"):
        sandbox_tenant.reference("stripe")


# ---- access and errors ----


def test_a_missing_or_wrong_control_token_is_a_sandbox_error_naming_401(
    guarded: SandboxServer,
) -> None:
    for token in ("", "wrong"):
        with pytest.raises(SandboxError, match="answered 401") as raised:
            SandboxControl(guarded.url, token).faults.rules()
        assert raised.value.status == 401 and "Unauthenticated" in raised.value.message
    assert guarded.control.faults.rules() == []  # the server's own control sends the token


def test_a_tenant_of_a_guarded_sandbox_sends_its_token(guarded: SandboxServer) -> None:
    tenant = guarded.tenant("clinic.test")
    assert tenant.clock.freeze(FROZEN).frozen is True
    with pytest.raises(SandboxError, match="answered 401"):
        SandboxTenant("clinic.test", guarded.url).clock.now()


def test_no_sandbox_at_the_url_is_a_sandbox_error_naming_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens on it
    with pytest.raises(SandboxError, match=f"no sandbox answers at {url}") as raised:
        SandboxControl(url).faults.rules()
    assert raised.value.status is None
    with pytest.raises(SandboxError, match=r"no sandbox answers at 127\.0\.0\.1:8000 .*protocol"):
        SandboxControl("127.0.0.1:8000").health()  # no scheme
