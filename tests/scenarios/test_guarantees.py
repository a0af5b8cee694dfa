"""The two guarantees: a scenario that fails leaves its tenant exactly as it was (atomic), and the
same file, seed and tenant give the same tenant, byte for byte, on any server (deterministic)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.scenarios import Applier, Scenario, StepFailed, load_scenario
from tests.scenarios.helpers import PATIENT, document

CHARGE = "POST /billing/payment-terminal/charge/create"
# Steps of every kind, each of which succeeds (in this order, from any prefix of them).
RULE = {
    "match": {"tenant": "${tenant}", "operationId": "getCharge"},
    "effect": {"status": 503},
    "count": 1,
}
LEGACY_CHARGE = {"patientId": PATIENT, "total": 100, "totalOutstanding": 100}
NEW_CHARGE = {"patientId": "${patient.id}", "totalOutstanding": 9}
ADJUSTMENT = {"chargeId": "${charge.id}", "amount": -5, "reason": "Courtesy"}
STEPS: list[dict[str, Any]] = [
    {"name": "patient", "call": "POST /user/patient/create", "body": {"firstName": "${fake.name}"}},
    {"clock": {"advance": "3d"}},
    {"name": "charge", "call": CHARGE, "body": NEW_CHARGE},
    {"control": "POST /_sandbox/faults", "body": RULE},
    {"call": "POST /billing/adjustment/create", "body": ADJUSTMENT},
    {"control": "PUT /rate-limits", "body": {"decoda": {"requests": 50, "perSeconds": 5}}},
    {"clock": {"freeze": "${now + 1h}"}},
    {"repeat": 3, "steps": [{"call": "POST /v1/charge/create", "body": LEGACY_CHARGE}]},
    {"control": "POST /decoda/charges/${charge.id}/void"},
]  # fmt: skip
# A step the vendor refuses: a charge for a patient that does not exist.
REFUSED = {
    "name": "refused",
    "call": CHARGE,
    "body": {"patientId": "pat_nobody", "totalOutstanding": 1},
}


def failing_at(n: int) -> Scenario:
    """The steps before `n` of STEPS, then the refused one, then the rest."""
    steps = [*STEPS[:n], REFUSED, *STEPS[n:]]
    return load_scenario(document(*steps, seed=5))


async def observed(client: httpx.AsyncClient, tenant: str) -> tuple[bytes, Any, Any]:
    """The tenant's snapshot (its bytes), the fault rules and the tenant's rate limits."""
    state = await client.get(f"/_sandbox/tenants/{tenant}/state")
    faults = await client.get("/_sandbox/faults")
    limits = await client.get(f"/_sandbox/tenants/{tenant}/rate-limits")
    assert state.status_code == faults.status_code == limits.status_code == 200
    return state.content, faults.json(), limits.json()


def in_process(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


async def fail_and_compare(app: Starlette, tenant: str, n: int, used_before: bool) -> None:
    async with in_process(app) as client:
        if used_before:
            # A tenant with writes of its own and a clock moved.
            headers = {"TENANT": tenant, "API-KEY": "k"}
            made = await client.post(
                "/user/patient/create", json={"firstName": "Old"}, headers=headers
            )
            assert made.status_code == 200
            await client.post(f"/_sandbox/tenants/{tenant}/clock", json={"advanceSeconds": 60})
        before = await observed(client, tenant)
        with pytest.raises(StepFailed) as failed:
            await Applier(app).apply(failing_at(n), tenant)
        assert (failed.value.index, failed.value.name) == (_index(n), "refused")
        assert failed.value.rolled_back
        assert await observed(client, tenant) == before


def _index(n: int) -> int:
    """The index (steps run before it) of the refused step placed at `n`."""
    return sum(3 if "repeat" in step else 1 for step in STEPS[:n])


@pytest.mark.anyio
async def test_a_failed_scenario_leaves_the_tenant_as_it_was(app: Starlette) -> None:
    await fail_and_compare(app, "atomic.test", len(STEPS), used_before=True)


_tenants = itertools.count()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(0, len(STEPS)), used_before=st.booleans())
def test_failing_at_any_step_leaves_the_tenant_as_it_was(
    app: Starlette, n: int, used_before: bool
) -> None:
    tenant = f"atomic-{next(_tenants)}.test"
    anyio.run(fail_and_compare, app, tenant, n, used_before)


def test_the_check_fails_when_the_tenant_changed(app: Starlette) -> None:
    """What the property compares tells a changed tenant apart (else it could never fail)."""

    async def changed() -> bool:
        async with in_process(app) as client:
            before = await observed(client, "changed.test")
            await Applier(app).apply(load_scenario(document(*STEPS[:1])), "changed.test")
            return await observed(client, "changed.test") != before

    assert anyio.run(changed)


# ---- deterministic ----

EVERY_API = """\
scenario: 1
name: every-api
apis: [candid, decoda, mycure]
seed: 11
steps:
  - repeat: 4
    steps:
      - name: patient
        api: decoda
        call: POST /user/patient/create
        body:
          firstName: "${fake.first_name}"
          lastName: "${fake.last_name}"
          email: "${fake.email}"
      - api: decoda
        call: POST /billing/payment-terminal/charge/create
        body:
          patientId: "${patient.id}"
          totalOutstanding: "${fake.pyint}"
          description: "${fake.sentence}"
  - clock: {advance: 2d}
  - api: candid
    call: POST /api/write-offs/v1
    body:
      write_offs:
        - type: patient
          write_off_timestamp: "${now - 1d}"
          write_off_reason: SMALL_BALANCE
          service_line_id: 5e1f0000-0000-4000-8000-000000000001
          amount_cents: 1250
  - api: mycure
    call: POST /billing-soas
    body:
      facility: 5eb00000000000000000fa01
      type: organization
      customer: 5eb00000000000000000c001
"""


async def applied_state(server_time: datetime, seed: int, tenant: str = "same.test") -> bytes:
    """A fresh app (its own clock at `server_time`), the tenant's clock frozen at one instant,
    the scenario applied: the tenant's snapshot."""
    app = create_app(clock=ManualClock(server_time))
    async with in_process(app) as client:
        frozen = await client.post(
            f"/_sandbox/tenants/{tenant}/clock", json={"freezeAt": "2026-02-01T09:00:00Z"}
        )
        assert frozen.status_code == 200
        text = EVERY_API.replace("seed: 11", f"seed: {seed}")
        await Applier(app).apply(load_scenario(text), tenant)
        state = await client.get(f"/_sandbox/tenants/{tenant}/state")
        assert state.status_code == 200
        return state.content


@pytest.mark.anyio
async def test_the_same_file_seed_and_tenant_give_the_same_bytes() -> None:
    first = await applied_state(datetime(2026, 3, 1, 12, tzinfo=UTC), seed=11)
    second = await applied_state(datetime(2031, 7, 4, 1, 2, 3, tzinfo=UTC), seed=11)
    assert first == second
    assert await applied_state(datetime(2026, 3, 1, 12, tzinfo=UTC), seed=12) != first
    other = await applied_state(datetime(2026, 3, 1, 12, tzinfo=UTC), seed=11, tenant="else.test")
    assert other.replace(b"else.test", b"same.test") != first


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    tenant=st.from_regex(r"[a-z][a-z0-9-]{0,20}\.test", fullmatch=True),
    server_times=st.lists(
        st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
        min_size=2,
        max_size=2,
    ),
)
def test_any_seed_and_tenant_give_the_same_bytes_on_any_server(
    seed: int, tenant: str, server_times: list[datetime]
) -> None:
    # Two servers whose own clocks disagree (machines, days): the same file, seed and tenant
    # still give the same tenant, byte for byte.
    first, second = (anyio.run(applied_state, when, seed, tenant) for when in server_times)
    assert first == second
