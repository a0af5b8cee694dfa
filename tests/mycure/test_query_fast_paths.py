"""The find's fast paths (text equality, a sort on numbers) agree with Mongo's general rules."""

from __future__ import annotations

from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_sandbox.apis.mycure.query import (
    _field_equals,
    _record_key,
    _text_equality,
    compile_find,
    run_find,
)
from billing_sandbox.apis.mycure.querystring import parse

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3), st.sampled_from(["a", "b", "1"])
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))


@settings(max_examples=300, deadline=None)
@given(VALUES, st.sampled_from(["a", "b", "1", ""]), st.booleans())
def test_text_equality_is_mongo_equality(value: Any, expected: str, present: bool) -> None:
    record = {"field": value} if present else {}
    assert _text_equality("field", expected)(record) == _field_equals(record, "field", expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5), st.floats(-5, 5)), max_size=30), st.booleans())
def test_a_sort_on_numbers_is_the_general_sort(numbers: list[float], descending: bool) -> None:
    records = [{"id": f"r{index}", "n": number} for index, number in enumerate(numbers)]
    find = compile_find(
        parse(f"$sort[n]={-1 if descending else 1}&$limit=50"),
        default_limit=50, max_limit=50, field_types={"n": "number"},
    )  # fmt: skip
    general = sorted(
        records, key=partial(_record_key, field="n", descending=descending), reverse=descending
    )
    assert run_find(find, records)[1] == general  # same order, ties kept in record order
