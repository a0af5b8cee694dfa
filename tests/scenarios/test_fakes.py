"""Faker in scenarios: the providers allowed give the same values on any machine, on any day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from billing_sandbox.scenarios import fakes

# Draws every zero-argument provider of Faker's en_US generator (but the non-JSON ones, refused
# anyway) with fixed seeds, on the day and in the time zone the process is given.
DRAW_ALL = textwrap.dedent(
    """
    import datetime as dt, inspect, json, random, re, sys
    from unittest import mock
    import faker.providers.date_time as faker_dates
    from faker import Faker
    from faker.providers import BaseProvider
    from billing_sandbox.scenarios import fakes

    generator = Faker("en_US").factories[0]
    names = [
        n for n in dir(generator)
        if re.fullmatch("[a-z][a-z0-9_]*", n) and n not in fakes.NOT_JSON
        and fakes._takes_no_argument(getattr(generator, n, None))
    ]

    class OtherDay(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2003, 7, 9, 17, 5, 1, tzinfo=tz)

    class OtherDate(dt.date):
        @classmethod
        def today(cls):
            return dt.date(2003, 7, 9)

    def draw_all():
        # A process of its own: the module-level random state is another, and the providers
        # are called in another order (a provider that draws from it is no longer the same).
        random.seed(sys.argv[2])
        drawn = {}
        for name in names if sys.argv[1] == "today" else names[::-1]:
            values = []
            for seed in range(6):
                generator.seed_instance(f"{seed}:{name}")
                try:
                    value = getattr(generator, name)()
                    if inspect.isgenerator(value):
                        value = list(value)
                    values.append(repr(fakes.as_json(value)))
                except Exception as error:
                    values.append(type(error).__name__)
            drawn[name] = values
        return drawn

    if sys.argv[1] == "other-day":
        with mock.patch.object(faker_dates, "datetime", OtherDay), mock.patch.object(
            faker_dates, "dtdate", OtherDate
        ):
            print(json.dumps(draw_all()))
    else:
        print(json.dumps(draw_all()))
    """
)


def draws(*runs: tuple[str, str, str]) -> list[dict[str, list[str]]]:
    """What `DRAW_ALL` prints in processes on each (day, hash seed, time zone), run at once."""
    started = [
        subprocess.Popen(
            [sys.executable, "-c", DRAW_ALL, day, hash_seed],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "TZ": zone},
        )
        for day, hash_seed, zone in runs
    ]
    found = []
    for process in started:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        found.append(json.loads(out))
    return found


def test_only_providers_that_follow_the_seed_alone_are_allowed() -> None:
    here, elsewhere = draws(("today", "1", "UTC"), ("other-day", "2", "Pacific/Kiritimati"))
    assert here.keys() == elsewhere.keys()
    moved = {name for name in here if here[name] != elsewhere[name]}
    # Every provider whose values moved is refused; every one allowed stayed put.
    assert moved <= fakes.UNSTABLE, sorted(moved - fakes.UNSTABLE)
    assert not moved & fakes.providers()
    # The check can find what it looks for: the date providers do move.
    assert {"date_of_birth", "past_date", "pyset", "passport_gender"} <= moved


def test_the_allowed_providers() -> None:
    allowed = fakes.providers()
    assert {"first_name", "last_name", "email", "city", "pyint", "uuid4", "company"} <= allowed
    assert not allowed & {"seed", "seed_instance", "seed_locale", "random", "format", "parse"}
    assert not allowed & (fakes.UNSTABLE | fakes.NOT_JSON)
    assert all(not name.startswith("_") for name in allowed)


def test_a_seeded_generator_repeats_its_draws() -> None:
    first = fakes.seeded("7:acme:clinic")
    again = fakes.seeded("7:acme:clinic")
    other = fakes.seeded("7:other:clinic")
    drawn = [fakes.draw(first, "name") for _ in range(5)]
    assert drawn == [fakes.draw(again, "name") for _ in range(5)]
    assert drawn != [fakes.draw(other, "name") for _ in range(5)]


def test_draws_are_json() -> None:
    generator = fakes.seeded("json")
    for name in ("latlng", "pydecimal", "currency", "uuid4", "pybool", "pyfloat", "words"):
        value = fakes.draw(generator, name)
        assert json.loads(json.dumps(value)) == value, name
