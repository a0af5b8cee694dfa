"""The sampler behind the dashboard's charts: what each second of the server's clock added."""

from __future__ import annotations

import pytest

from billing_sandbox.observe.metrics import REQUEST_BUCKETS, Metrics
from billing_sandbox.observe.traffic import KEPT_SECONDS, Second, Traffic

pytestmark = pytest.mark.anyio


class Now:
    """A monotonic clock the test moves by hand."""

    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def bucket(seconds: float) -> tuple[int, ...]:
    """The bucket counts of one request that took `seconds`."""
    counts = [0] * (len(REQUEST_BUCKETS) + 1)
    counts[sum(bound < seconds for bound in REQUEST_BUCKETS)] = 1
    return tuple(counts)


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def traffic(metrics: Metrics, now: Now) -> Traffic:
    return Traffic(metrics, now)


def test_what_came_before_the_first_sample_is_in_its_second(
    metrics: Metrics, traffic: Traffic
) -> None:
    metrics.request("decoda", "listCharges", 200, "none", 0.0007)
    metrics.request("decoda", "listCharges", 422, "validation", 0.003)
    both = tuple(a + b for a, b in zip(bucket(0.0007), bucket(0.003), strict=True))
    assert list(traffic.last(60)) == [(0, {"decoda": Second(2, 1, both)})]


def test_each_second_keeps_what_the_totals_grew_by_since_the_last_sample(
    metrics: Metrics, traffic: Traffic, now: Now
) -> None:
    metrics.request("candid", "getWriteOffs", 200, "none", 0.0004)
    traffic.sample()
    now.at += 1.2
    metrics.request("candid", "getWriteOffs", 503, "fault", 0.2)
    metrics.request("mycure", "findSoas", 200, "none", 0.0004)
    traffic.sample()
    now.at += 2.5  # a second with nothing is left out
    assert list(traffic.last(60)) == [
        (3, {"candid": Second(1, 0, bucket(0.0004))}),
        (2, {"candid": Second(1, 1, bucket(0.2)), "mycure": Second(1, 0, bucket(0.0004))}),
    ]


def test_samples_in_one_second_add_up(metrics: Metrics, traffic: Traffic, now: Now) -> None:
    metrics.request("decoda", "listCharges", 200, "none", 0.0004)
    traffic.sample()
    now.at += 0.3
    metrics.request("decoda", "listCharges", 200, "none", 0.0004)
    twice = tuple(2 * n for n in bucket(0.0004))
    assert list(traffic.last(1)) == [(0, {"decoda": Second(2, 0, twice)})]


def test_only_the_last_ten_minutes_are_kept_and_asked_for(
    metrics: Metrics, traffic: Traffic, now: Now
) -> None:
    metrics.request("decoda", "listCharges", 200, "none", 0.0004)
    traffic.sample()
    now.at += 61
    assert [ago for ago, _ in traffic.last(120)] == [61]
    assert list(traffic.last(60)) == []
    now.at += KEPT_SECONDS - 61
    assert list(traffic.last(KEPT_SECONDS)) == []
    assert not traffic._seconds  # dropped, not only filtered out


async def test_it_samples_once_a_second_while_it_runs(metrics: Metrics, now: Now) -> None:
    traffic = Traffic(metrics, now)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        metrics.request("decoda", "listCharges", 200, "none", 0.0004)
        now.at += seconds
        if len(slept) == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        await traffic.run(sleep)
    assert slept == [1.0, 1.0, 1.0]
    # Each request in the second after it: the run's samples put them where they happened.
    assert [ago for ago, _ in traffic.last(60)] == [2, 1, 0]
