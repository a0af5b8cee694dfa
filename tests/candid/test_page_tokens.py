"""Page tokens are signed once per cursor, direction and query, and stay what they were:
the kept token reads back, is bound to its query, and the keep is bounded."""

from __future__ import annotations

import pytest

from billing_sandbox.apis.candid import paging
from billing_sandbox.apis.candid.paging import PageTokens
from billing_sandbox.errors import ValidationFailed

QUERY = {"sort": "amount_cents", "sort_direction": "asc", "account_types": []}


def test_a_kept_token_is_the_signed_one_and_reads_back() -> None:
    tokens = PageTokens("secret", "acme")
    made = tokens.make((100, "wo-1"), False, QUERY)
    assert made == PageTokens("secret", "acme").make((100, "wo-1"), False, QUERY)  # unkept
    assert tokens.make((100, "wo-1"), False, QUERY) is made  # signed once
    assert tokens.read(made, QUERY) == ((100, "wo-1"), False)
    assert tokens.make((100, "wo-1"), True, QUERY) != made  # the direction is part of it
    other = {**QUERY, "sort_direction": "desc"}
    assert tokens.make((100, "wo-1"), False, other) != made
    with pytest.raises(ValidationFailed):
        tokens.read(made, other)


def test_the_kept_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "_MADE_LIMIT", 3)
    tokens = PageTokens("secret", "acme")
    for n in range(10):
        token = tokens.make((n, f"wo-{n}"), False, QUERY)
        assert tokens.read(token, QUERY) == ((n, f"wo-{n}"), False)
        assert len(tokens._made) <= 3
