"""Kept renderings: bytes made once per record or list, each held once, bounded by bytes."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import orjson
import pytest

from billing_sandbox.tenants.renders import FRESH, Renders, composition, exact

RECORDS = [{"id": f"r{n}", "n": n} for n in range(10)]
ID = itemgetter("id")
BIG = 1 << 20


def _as_is(record: dict[str, Any]) -> dict[str, Any]:
    return record


def _made(record: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: record


def test_ids_listed_without_a_key_are_their_own_keys() -> None:
    renders = Renders(BIG)
    by_id = {record["id"]: record for record in RECORDS}
    ids = [f"r{n}" for n in (4, 1, 7)]
    listed = renders.each("thing", ids, None, by_id.__getitem__)
    assert orjson.loads(orjson.dumps(listed)) == [by_id[i] for i in ids]
    assert renders.each("thing", list(ids), None, by_id.__getitem__) is listed
    kept = renders.get("thing", "r1", lambda: by_id["r1"])
    assert orjson.loads(orjson.dumps(kept)) == by_id["r1"]


def test_a_list_reuses_records_kept_by_id_and_is_kept_whole() -> None:
    renders = Renders(BIG)
    made: list[str] = []

    def make(record: dict[str, Any]) -> dict[str, Any]:
        made.append(record["id"])
        return record

    one = renders.get("thing", "r3", lambda: make(RECORDS[3]))
    listed = renders.each("thing", RECORDS, ID, make)
    assert made == ["r3"] + [f"r{n}" for n in range(10) if n != 3]  # r3's bytes reused
    assert orjson.dumps(listed) == orjson.dumps(RECORDS)
    assert renders.get("thing", "r3", lambda: make(RECORDS[3])) is one  # not made again
    assert renders.each("thing", RECORDS, ID, make) is listed and len(made) == 10
    # A list's records are held by the list alone: another list renders them again.
    again = renders.each("thing", RECORDS[::-1], ID, make)
    assert orjson.dumps(again) == orjson.dumps(RECORDS[::-1]) and len(made) == 19
    assert len(renders) == 3  # r3, and two lists


def test_a_list_and_a_record_cost_their_bytes_and_what_keeping_them_costs() -> None:
    renders = Renders(BIG)
    renders.get("thing", "r1", lambda: RECORDS[1])
    record = len(orjson.dumps(RECORDS[1]))
    renders.each("thing", RECORDS, ID, _as_is)
    listed = len(orjson.dumps(RECORDS))
    assert record + listed < renders.size < record + listed + 400


def test_what_renders_counts_is_what_it_holds() -> None:
    """`size` is held to what tracemalloc counts of the kept renderings (their bytes objects,
    fragments and slots): kept bytes are exactly their length (orjson's own are 8 KB at least),
    and the overheads it adds are measured, not guessed."""
    records = [{"id": f"r{n:04d}", "text": "x" * 700, "n": n} for n in range(400)]
    renders = Renders(64 << 20)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for record in records:
            renders.get("record", record["id"], _made(record))
        for start in range(0, 400, 50):
            renders.each("page", records[start : start + 50], ID, _as_is)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # What tracemalloc sees, within what malloc's own headers (not traced) add to it.
    assert held <= renders.size <= held * 1.1
    assert sys.getsizeof(exact(orjson.dumps(records[0]))) < 800


def test_a_list_past_the_budget_is_served_but_not_kept() -> None:
    renders = Renders(200)
    listed = renders.each("thing", RECORDS, ID, _as_is)
    assert isinstance(listed, list) and orjson.dumps(listed) == orjson.dumps(RECORDS)
    assert composition(listed) is None  # unkept: checked by its bytes, never by identity
    assert renders.size == 0 and len(renders) == 0


def test_a_record_past_the_budget_is_served_as_made_and_not_kept() -> None:
    renders = Renders(150)
    large = {"id": "big", "text": "y" * 500}
    assert renders.get("thing", "big", lambda: large) is large
    assert renders.size == 0


@pytest.mark.parametrize("budget", [300, 700, 1500, 4000])
def test_the_byte_budget_holds_and_reads_stay_right_past_it(budget: int) -> None:
    renders = Renders(budget)
    records = [{"id": f"r{n}", "text": "z" * (n * 13 % 90)} for n in range(40)]
    for turn in range(3):
        for start in range(0, 40, 7):
            page = records[start : start + 7]
            assert orjson.loads(orjson.dumps(renders.each("page", page, ID, _as_is))) == page
            assert renders.size <= budget
        for record in records[turn::3]:
            kept = renders.get("record", record["id"], _made(record))
            assert orjson.loads(orjson.dumps(kept)) == record
            assert renders.size <= budget


def test_the_count_bounds_what_is_kept_too() -> None:
    renders = Renders(BIG, max_count=4)
    for _ in range(3):
        for record in RECORDS:
            kept = renders.get("thing", record["id"], _made(record))
            assert orjson.loads(orjson.dumps(kept)) == record
            assert len(renders) <= 4


def test_a_rendering_kept_whole_holds_what_it_is_made_of_once() -> None:
    renders = Renders(BIG)
    one = renders.get("thing", "r1", lambda: RECORDS[1])
    made: list[int] = []

    def page() -> dict[str, Any]:
        made.append(1)
        return {"items": renders.each("thing", RECORDS, ID, _as_is), "next": "t"}

    first = renders.get("page", "q=1", page)
    assert renders.get("page", "q=1", page) is first and made == [1]
    assert orjson.loads(orjson.dumps(first)) == {"items": RECORDS, "next": "t"}
    # The page's bytes hold its list: the list is not kept apart (r1, read by id, still is).
    assert len(renders) == 2 and renders.get("thing", "r1", lambda: {}) is one
    assert renders.size < len(orjson.dumps({"items": RECORDS, "next": "t"})) + 100 + 300


def test_a_rendering_that_fails_keeps_nothing_and_leaves_lists_kept() -> None:
    renders = Renders(BIG)

    def failing() -> Any:
        renders.each("thing", RECORDS, ID, _as_is)
        raise LookupError("no such page")

    with pytest.raises(LookupError):
        renders.get("page", "q", failing)
    assert len(renders) == 0
    assert isinstance(renders.each("thing", RECORDS, ID, _as_is), orjson.Fragment)
    assert len(renders) == 1


def test_growth_is_told_each_kept_byte() -> None:
    class Told:
        grown = 0
        rendered = 0

    told = Told()
    renders = Renders(BIG, growth=told)
    renders.each("thing", RECORDS, ID, _as_is)
    renders.get("thing", "r1", lambda: RECORDS[1])
    assert told.grown == told.rendered == renders.size > 0


def test_composition_names_kept_fragments_and_plain_fields_only() -> None:
    renders = Renders(BIG)
    page = renders.each("thing", RECORDS, ID, _as_is)
    assert composition(page) is page
    envelope = {"items": page, "next_page_token": "t", "total": 3, "gone": None}
    assert composition(envelope) == tuple(envelope.items())
    assert composition({"items": page, "nested": {"a": 1}}) is None  # not flat
    assert composition({"total": 3}) is None  # nothing kept: its bytes name it
    assert composition(RECORDS) is None
    # Two equal renderings are different compositions: identity, never equal bytes.
    other = Renders(BIG).each("thing", RECORDS, ID, _as_is)
    assert composition({"items": page}) != composition({"items": other})


def test_what_was_checked_is_forgotten_with_the_renderings() -> None:
    renders = Renders(BIG)
    page = renders.each("thing", RECORDS, ID, _as_is)
    renders.add(("op", 200, page))
    assert renders.seen(("op", 200, page))
    renders.clear()
    assert not renders.seen(("op", 200, page))
    FRESH.add(("op", 200, page))
    assert not FRESH.seen(("op", 200, page))


def test_clear_forgets_and_no_budget_means_fresh() -> None:
    renders = Renders(BIG)
    renders.get("thing", "r1", lambda: {"v": 1})
    renders.clear()
    assert len(renders) == 0 and renders.size == 0
    assert orjson.dumps(renders.get("thing", "r1", lambda: {"v": 2})) == b'{"v":2}'
    for unkept in (Renders(0), Renders(BIG, max_count=0)):
        assert unkept.each("thing", RECORDS, ID, _as_is) == RECORDS and len(unkept) == 0
        assert unkept.get("thing", "r1", lambda: 5) == 5
    assert FRESH.each("thing", RECORDS, ID, _as_is) == RECORDS
    assert FRESH.get("thing", "r1", lambda: 5) == 5
