"""Kept renderings: bytes made once per record, shared by by-id reads and lists, bounded."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from billing_sandbox.tenants.renders import FRESH, Renders, composition

RECORDS = [{"id": f"r{n}", "n": n} for n in range(10)]
ID = itemgetter("id")


def _as_is(record: dict[str, Any]) -> dict[str, Any]:
    return record


def test_ids_listed_without_a_key_are_their_own_keys() -> None:
    renders = Renders(limit=100)
    by_id = {record["id"]: record for record in RECORDS}
    ids = [f"r{n}" for n in (4, 1, 7)]
    listed = renders.each("thing", ids, None, by_id.__getitem__)
    assert orjson.loads(orjson.dumps(listed)) == [by_id[i] for i in ids]
    assert renders.each("thing", list(ids), None, by_id.__getitem__) is listed
    kept = renders.get("thing", "r1", lambda: {"not": "made again"})
    assert orjson.loads(orjson.dumps(kept)) == by_id["r1"]


def test_a_rendering_is_made_once_and_shared_by_get_and_each() -> None:
    renders = Renders(limit=100)
    made: list[str] = []

    def make(record: dict[str, Any]) -> dict[str, Any]:
        made.append(record["id"])
        return record

    one = renders.get("thing", "r3", lambda: make(RECORDS[3]))
    listed = renders.each("thing", RECORDS, ID, make)
    assert made == ["r3"] + [f"r{n}" for n in range(10) if n != 3]  # each record once
    assert orjson.dumps(listed) == orjson.dumps(RECORDS)
    assert renders.get("thing", "r3", lambda: make(RECORDS[3])) is one  # not made again
    # The same list again is the same kept bytes; another list reuses the records' bytes.
    assert renders.each("thing", RECORDS, ID, make) is listed and len(made) == 10
    again = renders.each("thing", RECORDS[::-1], ID, make)
    assert orjson.dumps(again) == orjson.dumps(RECORDS[::-1]) and len(made) == 10
    assert orjson.dumps(renders.each("other", RECORDS[:2], ID, _as_is)) == orjson.dumps(RECORDS[:2])
    # Records and lists count toward the cap: 10 records, two lists of 10, "other" 2 + 2.
    assert len(renders) == 34


def test_a_list_past_the_cap_is_served_but_not_kept() -> None:
    renders = Renders(limit=12)
    listed = renders.each("thing", RECORDS, ID, _as_is)
    assert isinstance(listed, list) and orjson.dumps(listed) == orjson.dumps(RECORDS)
    assert composition(listed) is None  # unkept: checked by its bytes, never by identity


def test_composition_names_kept_fragments_and_plain_fields_only() -> None:
    renders = Renders(limit=100)
    page = renders.each("thing", RECORDS, ID, _as_is)
    assert composition(page) is page
    envelope = {"items": page, "next_page_token": "t", "total": 3, "gone": None}
    assert composition(envelope) == tuple(envelope.items())
    assert composition({"items": page, "nested": {"a": 1}}) is None  # not flat
    assert composition({"total": 3}) is None  # nothing kept: its bytes name it
    assert composition(RECORDS) is None
    # Two equal renderings are different compositions: identity, never equal bytes.
    other = Renders(limit=100).each("thing", RECORDS, ID, _as_is)
    assert composition({"items": page}) != composition({"items": other})


def test_what_was_checked_is_forgotten_with_the_renderings() -> None:
    renders = Renders(limit=100)
    page = renders.each("thing", RECORDS, ID, _as_is)
    renders.add(("op", 200, page))
    assert renders.seen(("op", 200, page))
    renders.clear()
    assert not renders.seen(("op", 200, page))
    FRESH.add(("op", 200, page))
    assert not FRESH.seen(("op", 200, page))


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
