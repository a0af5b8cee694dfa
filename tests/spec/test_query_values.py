"""`query_values` reads any query string exactly as Starlette's `QueryParams` does: its fast
split for plain ASCII and the general parser for the rest give the same names and values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from billing_sandbox.spec.params import query_values

# Pieces a query is made of, the awkward ones included: escapes, `+`, blanks, `=` in a
# value, empty pairs, and raw bytes past ASCII.
PIECES = st.sampled_from(
    [b"a", b"b", b"limit", b"=", b"&", b"&&", b"%20", b"%3D", b"%26", b"+", b"x=y=z",
     b"%E2%82%AC", b"\xc3\xa9", b"\xff", b"$sort[createdAt]", b"-1", b"", b"%", b"%zz",
     b"%24sort%5BcreatedAt%5D", b"%2", b"%e2%82"]
)  # fmt: skip


def _starlette(raw: bytes) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in QueryParams(raw).multi_items():
        values.setdefault(name, []).append(value)
    return values


@given(st.lists(PIECES, max_size=12).map(b"".join))
def test_query_values_match_starlette(raw: bytes) -> None:
    assert query_values(raw) == _starlette(raw)


def test_the_last_value_and_repeats_are_kept_in_order() -> None:
    expected = {"limit": ["1", "2"], "flag": [""], "": ["v"]}
    assert query_values(b"limit=1&limit=2&flag&=v") == expected
