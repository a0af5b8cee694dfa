"""The Faker providers a scenario may draw from (`${fake.first_name}`), seeded, as JSON values."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

from faker import Faker
from faker.generator import Generator
from faker.providers import BaseProvider

LOCALE = "en_US"
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Providers whose values depend on something besides the seed: the wall clock (Faker's dates
# are relative to the machine's today, in its time zone), or the process (a set's order
# follows string hashing, which differs between processes). The same file, seed and tenant
# must give the same values on any machine on any day: dates come from `${now}`/`${today}`.
# tests/scenarios/test_fakes.py finds these again by running every provider on another day,
# in another time zone and with another hash seed.
UNSTABLE = frozenset(
    {
        "am_pm", "credit_card_expire", "credit_card_full", "date", "date_between",
        "date_between_dates", "date_object", "date_of_birth", "date_this_century",
        "date_this_decade", "date_this_month", "date_this_year", "date_time", "date_time_ad",
        "date_time_between", "date_time_between_dates", "date_time_this_century",
        "date_time_this_decade", "date_time_this_month", "date_time_this_year", "day_of_month",
        "day_of_week", "firefox", "future_date", "future_datetime", "iso8601", "month",
        "month_name", "passport_dates", "passport_dob", "passport_full", "passport_gender",
        "past_date", "past_datetime", "profile", "pydict", "pyiterable", "pylist", "pyset",
        "pystruct", "pytuple", "simple_profile", "time", "time_object", "time_series",
        "unix_time", "user_agent", "year",
    }
)  # fmt: skip
# Providers whose values are no JSON (bytes, archives, images, Python objects, time zones,
# time spans) or need more than Faker's core to run.
NOT_JSON = frozenset(
    {"binary", "json_bytes", "tar", "zip", "image", "xml", "pyobject", "pytimezone", "time_delta"}
)


@lru_cache(maxsize=1)
def providers() -> frozenset[str]:
    """Every provider a scenario may name: the methods of Faker's en_US providers that take
    no argument, but for the unstable and the non-JSON ones (never the generator's own
    `seed`, `seed_instance`, `random`, `format`…: they are not providers)."""
    generator = Faker(LOCALE).factories[0]
    return frozenset(
        name
        for name in dir(generator)
        if _NAME.fullmatch(name)
        and not name.startswith("_")
        and name not in UNSTABLE | NOT_JSON
        and _takes_no_argument(getattr(generator, name, None))
    )


def _takes_no_argument(method: Any) -> bool:
    if not callable(method) or not isinstance(getattr(method, "__self__", None), BaseProvider):
        return False
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def seeded(seed: str) -> Generator:
    """An en_US generator seeded with `seed` on the instance (never Faker's class-level seed,
    which every other Faker in the process shares)."""
    faker = Faker(LOCALE)
    faker.seed_instance(seed)
    # The one locale's generator, called directly: the proxy's dispatch costs a lookup a draw.
    generator: Generator = faker.factories[0]
    return generator


def draw(generator: Generator, provider: str) -> Any:
    """One value of `provider` (a name `providers()` holds), as JSON."""
    return as_json(getattr(generator, provider)())


def as_json(value: Any) -> Any:
    """A provider's value as JSON: tuples become lists, decimals numbers, dates ISO text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items()}
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)
