"""A page is one run of the sorted keys: the same pages and cursors as walking key by key."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_sandbox.apis.candid.paging import Key, SortedKeys, cut_page


def _after(keys: list[Key], cursor: Key | None, ascending: bool, count: int) -> list[Key]:
    if ascending:
        start = 0 if cursor is None else bisect_right(keys, cursor)
        return keys[start : start + count]
    end = len(keys) if cursor is None else bisect_left(keys, cursor)
    return keys[max(0, end - count) : end][::-1]


def _model(
    keys: list[Key], ascending: bool, cursor: Key | None, backwards: bool, limit: int
) -> tuple[list[Key], Key | None, Key | None]:
    """The walk as it was written first: slices of keys, nearest the cursor first."""
    if not backwards:
        found = _after(keys, cursor, ascending, limit + 1)
        page = found[:limit]
        more_after = len(found) > limit
        more_before = bool(_after(keys, page[0] if page else cursor, not ascending, 1))
    else:
        found = _after(keys, cursor, not ascending, limit + 1)
        page = found[:limit][::-1]
        more_before = len(found) > limit
        more_after = bool(_after(keys, page[-1] if page else cursor, ascending, 1))
    if not page:
        return [], cursor if more_after else None, cursor if more_before else None
    return page, page[-1] if more_after else None, page[0] if more_before else None


KEYS = st.lists(st.tuples(st.integers(0, 30), st.sampled_from("abc")), unique=True).map(sorted)


@settings(max_examples=800, deadline=None)
@given(KEYS, st.booleans(), st.booleans(), st.integers(1, 6), st.data())
def test_a_page_and_its_cursors_are_the_walks(
    keys: list[Key], ascending: bool, backwards: bool, limit: int, data: st.DataObject
) -> None:
    # A cursor: none, a key on the list, or one that is not (its record was deleted).
    cursor = data.draw(
        st.none()
        | st.sampled_from(keys or [(0, "a")])
        | st.tuples(st.integers(-1, 31), st.just("b"))
    )
    page = cut_page(keys, ascending, cursor, backwards, limit)
    assert (page.of(keys), page.next_cursor, page.prev_cursor) == _model(
        keys, ascending, cursor, backwards, limit
    )


@given(st.lists(st.tuples(st.integers(0, 30), st.text("ab", min_size=1)), unique=True))
def test_sorted_keys_keep_their_ids_beside_them(keys: list[Key]) -> None:
    built, bulk = SortedKeys(), SortedKeys()
    for key in keys:
        built.add(key)
    bulk.add_many(list(keys))
    for kept in (built, bulk):
        assert kept.keys == sorted(keys) and kept.ids == [key[1] for key in kept.keys]
    for key in keys[::2]:
        built.remove(key)
    assert built.ids == [key[1] for key in built.keys] == [k[1] for k in sorted(keys[1::2])]
