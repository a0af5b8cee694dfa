"""The cheap first look of redaction: text holding any secret word (in any case), a JWT's start
or an escape that could spell either is looked at in full; other text is kept as sent,
unparsed."""

from __future__ import annotations

import random

import orjson
import pytest

from billing_sandbox.observe.redaction import (
    SECRET_WORDS,
    body_bytes,
    may_hold_secret,
    may_hold_secret_text,
    query,
)


@pytest.mark.parametrize("word", SECRET_WORDS)
def test_every_secret_word_is_looked_for_in_any_case(word: str) -> None:
    assert may_hold_secret(b'{"my_' + word.encode() + b'": "x"}')
    assert may_hold_secret(b'{"MY_' + word.upper().encode() + b'": "x"}')
    assert may_hold_secret_text(f"my_{word}=x")


def test_a_jwt_is_looked_for_by_its_start() -> None:
    assert may_hold_secret(b'{"x": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"}')


def test_bytes_without_any_are_kept_unparsed() -> None:
    plain = b'{"amount_cents": 1, "type": "patient"}'
    assert not may_hold_secret(plain)
    assert body_bytes(plain, "application/json") is plain


def test_a_secret_field_is_redacted() -> None:
    redacted = body_bytes(b'{"client_secret": "hunter2", "n": 1}', "application/json")
    assert b"hunter2" not in redacted and b'"n":1' in redacted.replace(b" ", b"")


def test_the_first_look_says_what_a_plain_search_says() -> None:
    # The spelled-out searches against the plainest statement of the rule, on text built from
    # pieces of the words, so that near misses (`toke`, `api key`) are met as well as hits.
    def plain_rule(raw: bytes) -> bool:
        text = raw.decode("latin-1")
        return "eyJ" in text or any(word in text.lower() for word in SECRET_WORDS)

    pieces = [*SECRET_WORDS, "toke", "secre", "api key", "eyj", "EYJ", "Auth", "ization",
              "PASS", "word", "_", "-", '"', " ", "x", "é"]  # fmt: skip
    rng = random.Random(33)
    for _ in range(3000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))).encode("latin-1")
        assert may_hold_secret(raw) == plain_rule(raw), raw


# ---- escapes that spell a secret's name are looked through ----


def test_a_json_key_spelled_with_an_escape_is_redacted() -> None:
    # `\u0065` is `e`: the key the server reads is `client_secret`.
    sent = b'{"client_id": "acme", "client_secr\\u0065t": "hunter2"}'
    kept = body_bytes(sent, "application/json")
    assert b"hunter2" not in kept
    assert orjson.loads(kept) == {"client_id": "acme", "client_secret": "[redacted]"}


def test_a_jwt_spelled_with_an_escape_is_redacted() -> None:
    sent = b'{"note": "\\u0065yJhbGciOiJIUzI1NiJ9.e30.c2ln"}'
    assert orjson.loads(body_bytes(sent, "application/json")) == {"note": "[redacted]"}


def test_a_query_name_spelled_with_a_percent_escape_is_redacted() -> None:
    # `%74` is `t`: `access_token`, as a server decoding the query reads it.
    kept = query("access_%74oken=abc123&limit=5")
    assert "abc123" not in kept
    assert "limit=5" in kept


def test_a_form_field_spelled_with_a_percent_escape_is_redacted() -> None:
    sent = b"client_id=acme&client_%73ecret=hunter2"
    kept = body_bytes(sent, "application/x-www-form-urlencoded")
    assert b"hunter2" not in kept and b"client_id=acme" in kept


def test_what_is_looked_at_in_full_and_holds_nothing_is_kept_as_sent() -> None:
    # A `%` in a note, a secret word in a value: parsed, nothing redacted, the very bytes kept.
    for sent in (b'{"note":  "50% off",\n "n": 1}', b'{"note": "a token of thanks"}',
                 b'{"name": "Jos\\u00e9"}'):  # fmt: skip
        assert body_bytes(sent, "application/json") is sent
    escaped = "%24sort%5BcreatedAt%5D=-1&%24limit=100"
    assert query(escaped) == escaped
    assert query(escaped) is escaped  # the second time, from the clean ones remembered
