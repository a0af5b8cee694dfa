"""A query string is parsed and compiled once: the kept `Find` is the one a fresh compile
gives, it is kept apart per page limits, and a bad query is refused every time."""

from __future__ import annotations

import pytest

from billing_sandbox.apis.mycure.store import FindLimits, compiled_find
from billing_sandbox.errors import BadRequest


def test_a_query_is_compiled_once_per_string_and_limits() -> None:
    small, large = FindLimits(10, 50), FindLimits(10, 500)
    kept = compiled_find("type=organization&$limit=200", small)
    assert compiled_find("type=organization&$limit=200", small) is kept
    assert kept.limit == 50  # clamped to its own limits
    assert compiled_find("type=organization&$limit=200", large).limit == 200
    assert compiled_find("type=organization", small).select is None
    assert compiled_find("$select[]=type", small).select == ("type",)


def test_a_bad_query_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"\$limit must be a non-negative integer"):
            compiled_find("$limit=-1", FindLimits(10, 50))
