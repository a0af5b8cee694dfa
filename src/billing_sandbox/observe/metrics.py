"""The server's metrics, as a team's monitoring scrapes them (`GET /_sandbox/metrics`).

Each app has its own `Metrics` and its own prometheus-client registry: a test process builds
many apps, and the library's global registry would refuse a second one. The request path only
adds to plain numbers (a dict entry and a histogram bucket, well under a microsecond); the
library's own `Counter` and `Histogram` objects cost several microseconds a request between
them, a few percent of a by-id read. Everything is turned into metric families when Prometheus
scrapes, by `_Exporter.collect`, and written in Prometheus's text format by prometheus-client.

No label carries a tenant: an API's name, an operationId from its spec, a status class, a
cause, an outcome are each one of a few values, so a series' count is bounded by the specs.
Everything runs on the server's one event loop, so nothing here needs a lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from billing_sandbox.errors import (
    ApiError,
    BadRequest,
    Forbidden,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)

PREFIX = "billing_sandbox_"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format Prometheus 2 and promtool read

# Upper bounds of the request-duration buckets, in seconds: a sandbox answers in about a
# millisecond, a fault's delay or a long page in tens or hundreds of them.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# An fsync takes microseconds on a page cache, milliseconds to a disk, seconds when it stalls.
FSYNC_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)

# What made a request fail, as the `cause` label says it; `none` for an answer that did not.
CAUSES = ("none", "fault", "rate_limit", "auth", "validation", "other")


@dataclass(frozen=True)
class Counted:
    """A counter the server keeps: its name (without the prefix), what it counts, its labels."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


# Every counter besides the requests', declared once so a misspelt name fails in tests, not
# as a series nobody scrapes.
COUNTERS = {
    counted.name: counted
    for counted in (
        Counted("rate_limit_refusals", "Requests refused by a tenant's rate limit.", ("api",)),
        Counted("tenant_spills", "Tenants with writes moved from memory to disk."),
        Counted("tenant_reloads", "Spilled tenants read back from disk on their next use."),
        Counted(
            "tenant_evictions",
            "Tenants let go from memory (spilled, or dropped when nobody wrote to them), by "
            "what made room: the tenant cap or the memory cap.",
            ("reason",),
        ),
        Counted(
            "webhook_tries",
            "Webhook delivery attempts, by outcome: delivered, rejected (a non-2xx answer), "
            "timeout, unreachable, refused (an address the sandbox may not send to).",
            ("api", "outcome"),
        ),
        Counted(
            "webhook_deliveries",
            "Webhook deliveries settled, by outcome: delivered, or exhausted (every retry used).",
            ("api", "outcome"),
        ),
        Counted("log_appends", "Changes written ahead to the state's log."),
        Counted("log_appended_bytes", "Bytes written ahead to the state's log."),
        Counted("log_compactions", "Compactions of the state's log, by outcome.", ("outcome",)),
    )
}
HISTOGRAMS = {
    "log_fsync_duration_seconds": ("Time an fsync of the state's log took.", FSYNC_BUCKETS),
}


def status_class(status: int) -> str:
    """`2xx` … `5xx`; `none` when no status was sent (a connection a fault dropped)."""
    return f"{status // 100}xx" if 100 <= status < 600 else "none"


def cause_of(problem: ApiError | None, faulted: bool, status: int) -> str:
    """What made an answer fail, one of `CAUSES`. `faulted`: a fault answered in the sandbox's
    place (a status, or an answer dropped, reset, silent, cut short or not JSON, whatever its
    status); it comes first, since it may answer as a rate limit (a 429). A fault that only
    waited is not one: what the call then answered is its own."""
    if faulted or (problem is not None and problem.injected):
        return "fault"
    if 200 <= status < 400:
        return "none"
    if isinstance(problem, RateLimited):
        return "rate_limit"
    if isinstance(problem, Unauthenticated | Forbidden):
        return "auth"
    if isinstance(problem, ValidationFailed | BadRequest | UnsupportedMediaType):
        return "validation"
    return "other" if status >= 400 or problem is not None else "none"


class Buckets:
    """A histogram's counts, one per bucket (not cumulative), and the sum of what it saw."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: over every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """As Prometheus wants them: `le` bound and how many were at or under it."""
        running = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class OperationTally:
    """One operation's requests: how many by status and cause, and how long they took. Keyed
    by the status itself, made a class only when scraped: nothing is formatted per request."""

    __slots__ = ("failed", "seconds", "succeeded")

    def __init__(self) -> None:
        # Most requests succeed: those are counted by status alone, with no pair to build.
        self.succeeded: dict[int, int] = {}
        self.failed: dict[tuple[int, str], int] = {}
        self.seconds = Buckets(REQUEST_BUCKETS)

    def outcomes(self) -> Iterator[tuple[tuple[int, str], int]]:
        """Every count, by status and cause."""
        for status, count in self.succeeded.items():
            yield (status, "none"), count
        yield from self.failed.items()

    def by_class(self) -> dict[tuple[str, str], int]:
        """The counts by status class and cause, as the `requests_total` series are."""
        classes: dict[tuple[str, str], int] = {}
        for (status, cause), count in self.outcomes():
            key = (status_class(status), cause)
            classes[key] = classes.get(key, 0) + count
        return classes


@dataclass(frozen=True)
class ApiTotals:
    """An API's requests so far, all operations together: what the dashboard's charts sample."""

    requests: int
    failures: int
    seconds: tuple[int, ...]  # per `REQUEST_BUCKETS` bucket (not cumulative), then over all


# A gauge read when Prometheus scrapes: a number, or numbers by label values.
Reading = Callable[[], float | Mapping[tuple[str, ...], float]]


@dataclass(frozen=True)
class Watched:
    name: str
    help: str
    read: Reading
    labels: tuple[str, ...] = ()


class Metrics:
    """What the server counts, and its exposition. `shard`: the name of this server in a
    cluster, added to every series as the `shard` label (empty: no such label)."""

    def __init__(self, shard: str = "", version: str = "") -> None:
        self.shard = shard
        self.version = version
        # By API, then operation: two lookups of strings whose hashes Python keeps, where one
        # by a pair would build and hash a tuple on every request.
        self._operations: dict[str, dict[str, OperationTally]] = {}
        self._counters: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in COUNTERS}
        self._histograms = {name: Buckets(bounds) for name, (_, bounds) in HISTOGRAMS.items()}
        self._watched: list[Watched] = []
        self.registry = CollectorRegistry(auto_describe=False)
        # The process's CPU, memory and open files, as every Python exporter shows them.
        self._process = ProcessCollector(registry=None)
        self.registry.register(_Exporter(self))

    def request(self, api: str, operation: str, status: int, cause: str, seconds: float) -> None:
        """One vendor request answered (the control API's are not counted)."""
        try:
            tally = self._operations[api][operation]
        except KeyError:
            tally = self._operations.setdefault(api, {})[operation] = OperationTally()
        if cause == "none":
            succeeded = tally.succeeded
            succeeded[status] = succeeded.get(status, 0) + 1
        else:
            failed = tally.failed
            failed[(status, cause)] = failed.get((status, cause), 0) + 1
        tally.seconds.observe(seconds)

    def count(self, name: str, *labels: str, amount: float = 1) -> None:
        """Add to counter `name` (one of `COUNTERS`), with its labels' values in order."""
        values = self._counters[name]
        values[labels] = values.get(labels, 0) + amount

    def observe(self, name: str, value: float) -> None:
        """A value for histogram `name` (one of `HISTOGRAMS`)."""
        self._histograms[name].observe(value)

    def watch(self, name: str, help: str, read: Reading, labels: tuple[str, ...] = ()) -> None:
        """A gauge whose value `read` gives when Prometheus scrapes (what is held now)."""
        self._watched.append(Watched(name, help, read, labels))

    def totals_by_api(self) -> dict[str, ApiTotals]:
        """Every API's requests so far (cumulative), for sampling into a chart."""
        requests: dict[str, int] = {}
        failures: dict[str, int] = {}
        seconds: dict[str, list[int]] = {}
        for api, tally in self._tallies():
            for (_, cause), count in tally.outcomes():
                requests[api] = requests.get(api, 0) + count
                if cause != "none":
                    failures[api] = failures.get(api, 0) + count
            summed = seconds.setdefault(api, [0] * (len(REQUEST_BUCKETS) + 1))
            for index, count in enumerate(tally.seconds.counts):
                summed[index] += count
        return {
            api: ApiTotals(requests[api], failures.get(api, 0), tuple(seconds[api]))
            for api in requests
        }

    def _by_operation(self) -> Iterator[tuple[tuple[str, str], OperationTally]]:
        for api, operations in self._operations.items():
            for operation, tally in operations.items():
                yield (api, operation), tally

    def _tallies(self) -> Iterator[tuple[str, OperationTally]]:
        for (api, _), tally in self._by_operation():
            yield api, tally

    def exposition(self) -> bytes:
        """Every metric, in Prometheus's text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def families(self) -> Iterator[Metric]:
        yield from self._requests()
        for name, counted in COUNTERS.items():
            family = CounterMetricFamily(PREFIX + name, counted.help, labels=counted.labels)
            values = self._counters[name]
            if not values and not counted.labels:
                values = {(): 0}  # a counter with no labels exists from the start, at 0
            for labels, value in values.items():
                family.add_metric(list(labels), value)
            yield family
        for name, (help, _) in HISTOGRAMS.items():
            buckets = self._histograms[name]
            histogram = HistogramMetricFamily(PREFIX + name, help)
            histogram.add_metric([], buckets.cumulative(), buckets.total)
            yield histogram
        for watched in self._watched:
            gauge = GaugeMetricFamily(PREFIX + watched.name, watched.help, labels=watched.labels)
            read = watched.read()
            readings = read.items() if isinstance(read, Mapping) else [((), read)]
            for labels, value in readings:
                gauge.add_metric(list(labels), value)
            yield gauge
        info = GaugeMetricFamily(
            PREFIX + "build_info", "The sandbox's version; always 1.", labels=["version"]
        )
        info.add_metric([self.version], 1)
        yield info
        yield from self._process.collect()

    def _requests(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            PREFIX + "requests",
            "Vendor API requests answered, by API, operation, status class and what made "
            "them fail (cause: none, fault, rate_limit, auth, validation, other).",
            labels=["api", "operation", "status_class", "cause"],
        )
        duration = HistogramMetricFamily(
            PREFIX + "request_duration_seconds",
            "Time from a request's routing to its answer, by API and operation.",
            labels=["api", "operation"],
        )
        for (api, operation), tally in sorted(self._by_operation()):
            for (klass, cause), count in sorted(tally.by_class().items()):
                requests.add_metric([api, operation, klass, cause], count)
            duration.add_metric([api, operation], tally.seconds.cumulative(), tally.seconds.total)
        yield requests
        yield duration


class _Exporter:
    """The registry's one collector: every family, the shard's label added when there is one."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        shard = self._metrics.shard
        for family in self._metrics.families():
            if shard:
                family.samples = [
                    sample._replace(labels={**sample.labels, "shard": shard})
                    for sample in family.samples
                ]
            yield family
