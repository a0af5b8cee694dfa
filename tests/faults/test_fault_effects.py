"""Fault effects as data: latency distributions (seeded, capped) and which combinations make
sense."""

from __future__ import annotations

import random
import statistics

import pytest

from billing_sandbox.errors import Unprocessable
from billing_sandbox.faults.rules import Latency, effect_from_json


def draws(latency: Latency, seed: int, n: int = 2001) -> list[float]:
    rng = random.Random(seed)
    return [latency.draw(rng) for _ in range(n)]


def test_a_lognormal_latency_repeats_with_its_seed_and_centres_on_its_median() -> None:
    latency = Latency(kind="lognormal", median_ms=200, sigma=0.8)
    first, again, other = draws(latency, 1), draws(latency, 1), draws(latency, 2)
    assert first == again and first != other
    assert 170 < statistics.median(first) < 230
    # A long tail: the slowest calls are far slower than the median.
    assert max(first) > 3 * 200


def test_latency_stays_within_its_bounds_and_cap() -> None:
    uniform = draws(Latency(kind="uniform", min_ms=100, max_ms=300), 3)
    assert min(uniform) >= 100 and max(uniform) <= 300
    capped = draws(Latency(kind="lognormal", median_ms=200, sigma=3, cap_ms=500), 3)
    assert max(capped) == 500
    assert draws(Latency(kind="fixed", ms=42), 3, n=3) == [42, 42, 42]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"status": 503, "drop": True}, "^a fault rule answers one way, not status and drop$"),
        ({"truncate": True, "afterCommit": True}, "^a fault rule's afterCommit loses the answer"),
        ({"afterCommit": True}, "^a fault rule's afterCommit loses the answer"),
        (
            {"latency": {"kind": "uniform", "minMs": 9, "maxMs": 1}},
            "^a fault rule's uniform latency has a minMs at most its maxMs$",
        ),
    ],
)
def test_an_effect_that_makes_no_sense_is_refused_saying_why(
    given: dict[str, object], says: str
) -> None:
    with pytest.raises(Unprocessable, match=says):
        effect_from_json(given)


def test_after_commit_and_reshaping_effects_act_after_the_call() -> None:
    assert effect_from_json({"drop": True, "afterCommit": True}).acts_after
    assert effect_from_json({"truncate": True}).acts_after
    assert effect_from_json({"dribbleMs": 100}).acts_after
    assert not effect_from_json({"status": 503}).acts_after
    assert not effect_from_json({"reset": True}).acts_after
