"""The cheap first look of redaction: bytes holding any secret word (in any case) or a JWT's
start are looked at in full; others are kept as sent, unparsed."""

from __future__ import annotations

import pytest

from billing_sandbox.observe.redaction import SECRET_WORDS, body_bytes, may_hold_secret


@pytest.mark.parametrize("word", SECRET_WORDS)
def test_every_secret_word_is_looked_for_in_any_case(word: bytes) -> None:
    assert may_hold_secret(b'{"my_' + word + b'": "x"}')
    assert may_hold_secret(b'{"MY_' + word.upper() + b'": "x"}')


def test_a_jwt_is_looked_for_by_its_start() -> None:
    assert may_hold_secret(b'{"x": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}')


def test_bytes_without_any_are_kept_unparsed() -> None:
    plain = b'{"amount_cents": 1, "type": "patient"}'
    assert not may_hold_secret(plain)
    assert body_bytes(plain, "application/json") is plain


def test_a_secret_field_is_redacted() -> None:
    redacted = body_bytes(b'{"client_secret": "hunter2", "n": 1}', "application/json")
    assert b"hunter2" not in redacted and b'"n":1' in redacted.replace(b" ", b"")
