"""Masking secrets in what the conformance command prints and keeps."""

from __future__ import annotations

import json
from pathlib import Path

from billing_sandbox.conformance.report import MASK, Masker


def test_a_secret_is_masked_wherever_it_stands_as_a_token() -> None:
    masker = Masker(["s3cret", "eyJ.token.sig"])
    text = 'Authorization: Bearer eyJ.token.sig; {"client_secret":"s3cret"} ?key=s3cret&x=1'
    masked = masker(text)
    assert "s3cret" not in masked and "eyJ.token.sig" not in masked
    assert masked.count(MASK) == 3


def test_a_one_letter_secret_does_not_shred_the_words_around_it() -> None:
    assert Masker(["e"])("the secret e was sent") == f"the secret {MASK} was sent"


def test_structured_values_are_masked_value_by_value_keys_kept() -> None:
    masker = Masker(["true", "status"])
    value = {"status": "status", "ok": True, "items": ["true", 1, None]}
    assert masker.value(value) == {"status": MASK, "ok": True, "items": [MASK, 1, None]}


def test_an_events_file_stays_json_when_a_secret_is_a_json_keyword(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text('{"Event": {"flag": true, "note": "null", "n": null}}\n')
    Masker(["true", "null"]).file(events)
    assert json.loads(events.read_text()) == {"Event": {"flag": True, "note": MASK, "n": None}}
