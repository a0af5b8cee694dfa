"""`--reset-every`: when a schedule falls due (a period, a daily time of day), how it waits (on an
injected clock and sleep: nothing here sleeps), and the start scenarios' tenants reset and
applied again at each due instant, a scenario that fails then said in the log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from billing_sandbox.app import ServedScenarios, create_app
from billing_sandbox.clock import ManualClock, Schedule, recurring
from billing_sandbox.settings import Settings
from tests.decoda.helpers import creds

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Stop(Exception):
    """Ends a schedule's loop from its sleep, as a cancellation would."""


def sleeper(
    clock: ManualClock, until: datetime, slept: list[float]
) -> Callable[[float], Awaitable[None]]:
    """A sleep that moves `clock` on instead of waiting, and stops the loop once past `until`."""

    async def sleep(seconds: float) -> None:
        if clock.now() >= until:
            raise Stop
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    return sleep


# ---- when a schedule falls due ----


def test_a_period_falls_due_each_period_after_the_start() -> None:
    schedule = Schedule(timedelta(hours=24), START)
    assert schedule.next_after(START) == START + timedelta(hours=24)
    assert schedule.next_after(START + timedelta(hours=23)) == START + timedelta(hours=24)
    assert schedule.next_after(START + timedelta(hours=24)) == START + timedelta(hours=48)
    assert schedule.next_after(START + timedelta(days=3, minutes=1)) == START + timedelta(days=4)


def test_a_time_of_day_falls_due_daily_in_its_zone() -> None:
    schedule = Schedule(time(6, 0), START, zone=UTC)
    tomorrow = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert schedule.next_after(START) == tomorrow  # 12:00 is past 06:00
    assert schedule.next_after(datetime(2026, 3, 2, 5, 59, tzinfo=UTC)) == tomorrow
    assert schedule.next_after(tomorrow) == tomorrow + timedelta(days=1)


async def test_work_runs_at_each_due_instant_waiting_in_slices_of_a_minute_at_most() -> None:
    clock = ManualClock(START)
    ran: list[datetime] = []
    slept: list[float] = []

    async def work() -> None:
        ran.append(clock.now())

    sleep = sleeper(clock, START + timedelta(minutes=5, seconds=30), slept)
    with pytest.raises(Stop):
        await recurring(Schedule(timedelta(seconds=90), START), work, clock, sleep)
    assert ran == [START + timedelta(seconds=90 * n) for n in (1, 2, 3)]
    assert max(slept) == 60
    assert sum(slept) == 5 * 60 + 30


async def test_instants_missed_while_away_are_made_up_once() -> None:
    clock = ManualClock(START)
    ran: list[datetime] = []

    async def work() -> None:
        ran.append(clock.now())

    async def sleep(seconds: float) -> None:
        if ran:
            raise Stop
        clock.advance(timedelta(days=3))  # a machine asleep for three days

    with pytest.raises(Stop):
        await recurring(Schedule(timedelta(hours=24), START), work, clock, sleep)
    assert ran == [START + timedelta(days=3)]


# ---- the start scenarios, again at each due instant ----


def two_patients(name: str) -> dict[str, Any]:
    steps = [
        {"name": "ada", "call": "POST /user/patient/create", "body": {"firstName": "Ada"}},
        {"name": "grace", "call": "POST /user/patient/create", "body": {"firstName": "Grace"}},
    ]
    return {"scenario": 1, "name": name, "apis": ["decoda"], "steps": steps}


async def patients(client: httpx.AsyncClient, tenant: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/_sandbox/tenants/{tenant}/records/decoda?kind=patients&limit=100")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["records"]
    return found


@pytest.fixture
def demo(tmp_path: Path) -> Settings:
    for name in ("front-desk", "back-office"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(two_patients(name)))
    return Settings(
        records=5,
        scenarios=(str(tmp_path / "front-desk.yaml"), f"{tmp_path / 'back-office.yaml'}@acme"),
        reset_every="24h",
    )


async def test_each_day_the_tenants_start_clean_with_the_scenarios_applied_that_day(
    demo: Settings,
) -> None:
    clock = ManualClock(START)
    app = create_app(demo, clock=clock)
    scenarios: ServedScenarios = app.state.scenarios
    said = await scenarios.start()
    assert said == [
        "front-desk applied to tenant front-desk (2 steps)",
        "back-office applied to tenant acme (2 steps)",
    ]
    assert await scenarios.start() == []  # once only
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        seeded = len(await patients(client, "acme")) - 2
        made = await client.post("/user/patient/create", json={"firstName": "Stray"},
                                 headers=creds())  # fmt: skip
        assert made.status_code == 200, made.text
        with pytest.raises(Stop):
            await scenarios.keep_resetting(sleeper(clock, START + timedelta(days=1), []))
        for tenant in ("acme", "front-desk"):
            held = await patients(client, tenant)
            names = sorted(p["firstName"] for p in held[seeded:])
            assert names == ["Ada", "Grace"], tenant  # the stray write is gone
            made_on = {p["createdDate"][:10] for p in held[seeded:]}
            assert made_on == {"2026-03-02"}, tenant  # made again the next day


async def test_a_scenario_that_fails_at_a_reset_is_logged_and_the_others_are_applied(
    demo: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(START)
    app = create_app(demo, clock=clock)
    scenarios: ServedScenarios = app.state.scenarios
    await scenarios.start()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        rule = {"match": {"tenant": "acme", "operationId": "createPatient"},
                "effect": {"status": 503}, "count": 1}  # fmt: skip
        assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
        front_desk, acme = await patients(client, "front-desk"), await patients(client, "acme")
        with caplog.at_level(logging.WARNING, logger="billing_sandbox"), pytest.raises(Stop):
            await scenarios.keep_resetting(sleeper(clock, START + timedelta(days=1), []))
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, errors
        assert errors[0].startswith("scenario back-office on tenant acme: step 0")
        assert "answered 503" in errors[0]
        again = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert again == ["front-desk applied to tenant front-desk (2 steps), again"]
        # Applied again: other ids and instants than the first day's.
        assert await patients(client, "front-desk") != front_desk
        # The one that failed is as it was before its reset, not reset and half applied.
        assert await patients(client, "acme") == acme


def test_a_reset_needs_start_scenarios_and_a_schedule_it_can_read() -> None:
    with pytest.raises(ValueError, match="resets the tenants of the start scenarios"):
        Settings(reset_every="24h")
    with pytest.raises(ValueError, match="must be a period such as 24h"):
        Settings(scenarios=("decoda-overdue-clinic",), reset_every="25:00")
    given = {"BILLING_SANDBOX_SCENARIOS": "x,y@b", "BILLING_SANDBOX_RESET_EVERY": " 06:30 "}
    read = Settings.from_env(given)
    assert (read.scenarios, read.reset_every) == (("x", "y@b"), "06:30")
