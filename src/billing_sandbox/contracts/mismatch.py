"""What the verifier reports of an answer: each difference from the pact, by where it is and
what is wrong, whichever part of the response (status, a header, a place in the body) found
it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mismatch:
    """One way the answer differs from what the pact expects: where, and how."""

    where: str
    message: str
