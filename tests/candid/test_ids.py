"""Candid's ids are the uuids `uuid.UUID(int=bits, version=4)` makes, formatted directly."""

from __future__ import annotations

import random
import uuid

from billing_sandbox.apis.candid.ids import uuid4_text


def test_the_same_text_as_a_uuid_object_for_any_bits() -> None:
    bits = random.Random(7)
    cases = [0, (1 << 128) - 1] + [bits.getrandbits(128) for _ in range(5000)]
    for n in cases:
        assert uuid4_text(n) == str(uuid.UUID(int=n, version=4))
