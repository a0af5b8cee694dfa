"""Each fault kind through a real TCP connection (uvicorn on a loopback port), as an httpx
client meets it: the exception for resets and cut answers, the time for latency and dribbles,
the parse error for a malformed body; outage windows and sequences; answers lost after the
write was done."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from billing_sandbox.settings import Settings
from billing_sandbox.testing import SandboxError, SandboxServer
from billing_sandbox.testing.server import serve

# The longest any fault here may hold a request, so a silent answer ends by itself.
HOLD_MS = 1500
LIST = "/billing/charge/list"
CREATE = "/billing/payment-terminal/charge/create"
PATIENT = "pat_sandbox_0001"
tenant_numbers = itertools.count()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with serve(Settings(max_fault_delay_ms=HOLD_MS)) as server:
        yield server


@pytest.fixture
def tenant(sandbox: SandboxServer) -> Iterator[str]:
    """A tenant of this test's own; its rules go with it."""
    name = f"wire{next(tenant_numbers)}"
    yield name
    sandbox.tenant(name).faults.clear()


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        yield client


def creds(tenant: str) -> dict[str, str]:
    return {"TENANT": tenant, "API-KEY": "k"}


def fault(sandbox: SandboxServer, tenant: str, **rule: Any) -> None:
    sandbox.tenant(tenant).faults.add(api="decoda", **rule)


def charges(http: httpx.Client, tenant: str) -> list[dict[str, Any]]:
    response = http.get(LIST, headers=creds(tenant))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_a_reset_is_a_connection_reset_before_any_byte(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    fault(sandbox, tenant, reset=True, count=1)
    with pytest.raises(httpx.ReadError) as raised:
        http.get(LIST, headers=creds(tenant))
    # An RST (errno 104), not a FIN: a closed connection would be a RemoteProtocolError.
    assert "Connection reset by peer" in str(raised.value)
    assert charges(http, tenant)  # the next call gets through


def test_a_dropped_connection_breaks_off_after_the_headers(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    fault(sandbox, tenant, drop=True, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(LIST, headers=creds(tenant))


def test_a_truncated_answer_promises_more_than_arrives(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    whole = http.get(LIST, headers=creds(tenant))
    fault(sandbox, tenant, truncate=True, count=1)
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|peer closed"):
        http.get(LIST, headers=creds(tenant))
    assert whole.headers["content-length"] == str(len(whole.content))


def test_a_malformed_answer_is_a_2xx_whose_body_is_not_json(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    fault(sandbox, tenant, malformed=True, count=1)
    response = http.get(LIST, headers=creds(tenant))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_a_dribbled_answer_is_the_real_one_slowly(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    whole = http.get(LIST, headers=creds(tenant)).content
    fault(sandbox, tenant, dribble_ms=600, count=1)
    started = time.perf_counter()
    slow = http.get(LIST, headers=creds(tenant))
    assert time.perf_counter() - started >= 0.6
    assert slow.content == whole


def test_a_timeout_never_answers_and_the_client_gives_up(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    fault(sandbox, tenant, timeout=True, count=1)
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        http.get(LIST, headers=creds(tenant), timeout=0.3)
    assert 0.3 <= time.perf_counter() - started < HOLD_MS / 1000
    # Past the server's hold, the connection closes: a client that waits longer sees that.
    with pytest.raises(httpx.RemoteProtocolError):
        fault(sandbox, tenant, timeout=True, count=1)
        http.get(LIST, headers=creds(tenant), timeout=5)


@pytest.mark.parametrize(
    ("latency", "low", "high"),
    [
        ({"kind": "fixed", "ms": 300}, 0.3, 1.2),
        ({"kind": "uniform", "minMs": 200, "maxMs": 400}, 0.2, 1.3),
        # A lognormal with a huge spread, capped: never longer than its cap.
        ({"kind": "lognormal", "medianMs": 250, "sigma": 4, "capMs": 400}, 0.0, 1.3),
    ],
)
def test_latency_waits_as_its_distribution_says_within_its_cap(
    sandbox: SandboxServer,
    tenant: str,
    http: httpx.Client,
    latency: dict[str, Any],
    low: float,
    high: float,
) -> None:
    fault(sandbox, tenant, latency=latency)
    for _ in range(3):
        started = time.perf_counter()
        assert http.get(LIST, headers=creds(tenant)).status_code == 200
        assert low <= time.perf_counter() - started < high


def test_fail_the_first_n_calls_then_succeed(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    fault(sandbox, tenant, status=503, count=2)
    statuses = [http.get(LIST, headers=creds(tenant)).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_an_outage_window_runs_on_the_tenants_clock(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    clock = sandbox.tenant(tenant).clock
    clock.freeze()
    fault(sandbox, tenant, status=503, for_seconds=30)
    assert http.get(LIST, headers=creds(tenant)).text == "503 Service Unavailable\n"
    clock.advance(29)
    assert http.get(LIST, headers=creds(tenant)).status_code == 503
    clock.advance(1)
    assert http.get(LIST, headers=creds(tenant)).status_code == 200
    [rule] = sandbox.tenant(tenant).faults.rules()
    assert rule.until is not None and rule.fired == 2


@pytest.mark.parametrize(
    ("lost", "raised"),
    [
        ({"drop": True}, httpx.RemoteProtocolError),
        ({"reset": True}, httpx.ReadError),
        ({"timeout": True}, httpx.ReadTimeout),
    ],
)
def test_after_commit_the_write_happens_and_its_answer_is_lost(
    sandbox: SandboxServer,
    tenant: str,
    http: httpx.Client,
    lost: dict[str, bool],
    raised: type[Exception],
) -> None:
    before = charges(http, tenant)
    fault(sandbox, tenant, operation_id="createCharge", after_commit=True, count=1, **lost)
    body = {"patientId": PATIENT, "totalOutstanding": 4321}
    with pytest.raises(raised):
        http.post(CREATE, json=body, headers=creds(tenant), timeout=0.5)
    after = charges(http, tenant)
    [made] = [c for c in after if c["id"] not in {b["id"] for b in before}]
    assert made["totalOutstanding"] == 4321
    # Nothing else changed.
    assert [c for c in after if c["id"] != made["id"]] == before
    # The client retries: the vendor makes a second charge, as it would.
    retried = http.post(CREATE, json=body, headers=creds(tenant))
    assert retried.status_code == 200
    assert len(charges(http, tenant)) == len(before) + 2
    # The journal says the first was carried out (200) and its answer lost; the retry, not.
    retry, first = sandbox.tenant(tenant).journal.query(operation_id="createCharge").entries
    assert first.status == 200 and retry.status == 200
    assert (
        first.fault is not None and "after commit" in first.fault and "answer lost" in first.fault
    )
    assert retry.fault is None


def test_after_commit_a_504_loses_the_answer_of_a_write_that_was_done(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    before = len(charges(http, tenant))
    fault(sandbox, tenant, operation_id="createCharge", after_commit=True, status=504, count=1)
    body = {"patientId": PATIENT, "totalOutstanding": 10}
    answer = http.post(CREATE, json=body, headers=creds(tenant))
    assert (answer.status_code, answer.text) == (504, "504 Gateway Timeout\n")
    assert len(charges(http, tenant)) == before + 1


def test_a_fault_before_commit_changes_nothing(
    sandbox: SandboxServer, tenant: str, http: httpx.Client
) -> None:
    before = charges(http, tenant)
    body = {"patientId": PATIENT, "totalOutstanding": 10}
    for effect in ({"reset": True}, {"drop": True}, {"status": 503}, {"timeout": True}):
        fault(sandbox, tenant, operation_id="createCharge", count=1, **effect)
        with contextlib.suppress(httpx.HTTPError):
            http.post(CREATE, json=body, headers=creds(tenant), timeout=0.5)
        assert charges(http, tenant) == before, effect


def test_a_nonsense_effect_is_refused_saying_why(sandbox: SandboxServer, tenant: str) -> None:
    for rule, says in (
        ({"reset": True, "status": 503}, "one way"),
        ({"truncate": True, "after_commit": True}, "afterCommit"),
    ):
        with pytest.raises(SandboxError) as refused:
            fault(sandbox, tenant, **rule)
        assert refused.value.status == 422 and says in refused.value.message
    assert sandbox.tenant(tenant).faults.rules() == []
