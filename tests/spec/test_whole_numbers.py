"""A JSON body's whole floats become ints (`5000.0` is `5000`), whatever else it holds; the
walk that converts them is skipped only for bodies that cannot hold a float."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from billing_sandbox.spec.body import _whole_numbers_as_int, decode_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["5e1f0000-0000-4000-8000-000000000001", ":5e", "1.5", "x,2E3", ""])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(VALUES, st.booleans())
def test_decoding_converts_exactly_as_the_full_walk(value: object, indent: bool) -> None:
    raw = orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0)
    assert decode_json(raw) == _whole_numbers_as_int(orjson.loads(raw))
    assert repr(decode_json(raw)) == repr(_whole_numbers_as_int(orjson.loads(raw)))


def test_whole_floats_anywhere_become_ints() -> None:
    for raw, expected in (
        (b"5.0", 5),
        (b"[1e2]", [100]),
        (b'{"a": -2.0, "b": [3.5, 4E0]}', {"a": -2, "b": [3.5, 4]}),
        (b'{"id": "5e1f", "n": 7}', {"id": "5e1f", "n": 7}),
    ):
        decoded = decode_json(raw)
        assert decoded == expected and repr(decoded) == repr(expected)
