"""Kept renderings: bytes made once per record, shared by by-id reads and lists, bounded."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from billing_sandbox.renders import FRESH, Renders

RECORDS = [{"id": f"r{n}", "n": n} for n in range(10)]
ID = itemgetter("id")


def _as_is(record: dict[str, Any]) -> dict[str, Any]:
    return record


def test_a_rendering_is_made_once_and_shared_by_get_and_each() -> None:
    renders = Renders(limit=100)
    made: list[str] = []

    def make(record: dict[str, Any]) -> dict[str, Any]:
        made.append(record["id"])
        return record

    one = renders.get("thing", "r3", lambda: make(RECORDS[3]))
    listed = renders.each("thing", RECORDS, ID, make)
    assert listed[3] is one  # the by-id read's bytes, not made again
    assert made == ["r3"] + [f"r{n}" for n in range(10) if n != 3]  # each record once
    assert renders.each("thing", RECORDS, ID, make) == listed and len(made) == 10
    assert orjson.dumps(listed) == orjson.dumps(RECORDS)
    assert orjson.dumps(renders.each("other", RECORDS[:2], ID, _as_is)) == orjson.dumps(RECORDS[:2])
    assert len(renders) == 12  # kinds are apart: "other" made its own


def test_the_cap_bounds_what_is_kept_and_answers_stay_right() -> None:
    renders = Renders(limit=4)
    for _ in range(3):
        assert orjson.dumps(renders.each("thing", RECORDS, ID, _as_is)) == orjson.dumps(RECORDS)
        assert len(renders) <= 4


def test_clear_forgets_and_no_cap_means_fresh() -> None:
    renders = Renders(limit=100)
    renders.get("thing", "r1", lambda: {"v": 1})
    renders.clear()
    assert len(renders) == 0
    assert orjson.dumps(renders.get("thing", "r1", lambda: {"v": 2})) == b'{"v":2}'
    unkept = Renders(limit=0)
    assert unkept.each("thing", RECORDS, ID, _as_is) == RECORDS and len(unkept) == 0
    assert FRESH.each("thing", RECORDS, ID, _as_is) == RECORDS
    assert FRESH.get("thing", "r1", lambda: 5) == 5
