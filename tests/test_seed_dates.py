"""Seed data never depends on today's date: the same seed gives the same bytes on any day."""

from __future__ import annotations

from datetime import datetime, tzinfo

import faker.providers.date_time
import orjson
import pytest

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings
from billing_sandbox.state.snapshot import export_tenant


def seeded_state() -> bytes:
    """Every API's seed for one tenant (MYCURE's tenant is an organisation, so `acme.test`)."""
    sandbox = create_app(Settings()).state.sandbox
    tenant = sandbox.tenant("acme.test")
    for api in ("candid", "decoda", "mycure"):
        tenant.store(api)
    return orjson.dumps(export_tenant(sandbox, tenant))


def test_seed_data_does_not_depend_on_todays_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faker's own helpers may count from today (its `date_of_birth` does, and Decoda's seed
    once used it)."""
    today = seeded_state()

    class YearsLater(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> YearsLater:
            return cls(2031, 7, 4, tzinfo=tz)

    monkeypatch.setattr(faker.providers.date_time, "datetime", YearsLater)
    assert seeded_state() == today
