"""The report: the measured results as a Markdown table, and a verdict line per goal."""

from __future__ import annotations

import math
from dataclasses import dataclass

SATURATED = 0.9  # a server busier than this was the bottleneck of its run
BY_ID_GOAL = 0.7  # by-id throughput, as a share of the ceiling's (issue 15)
PAGE_GOAL = 0.5  # a 100-item page's, likewise
SIZE_TOLERANCE = 0.2  # a page may cost this much more (or less) at the large size


@dataclass(frozen=True)
class Result:
    """One scenario's numbers."""

    scenario: str
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float | None  # server CPU per request
    server_load: float | None  # server CPU / wall time
    client_load: float  # client CPU / wall time


@dataclass(frozen=True)
class Results:
    """Every scenario of one benchmark run."""

    small: int
    large: int
    by_id_ceiling: Result
    by_id: Result
    page_ceiling: Result
    page_small: Result
    page_large: Result
    deep_small: Result
    deep_large: Result

    def rows(self) -> list[tuple[Result, Result | None, str]]:
        """Table rows: each result, the result it is compared with, and that one's short name."""
        small = f"{self.small:,}"
        return [
            (self.by_id_ceiling, None, ""),
            (self.by_id, self.by_id_ceiling, "ceiling"),
            (self.page_ceiling, None, ""),
            (self.page_small, self.page_ceiling, "ceiling"),
            (self.page_large, self.page_small, small),
            (self.deep_small, self.page_small, "page 1"),
            (self.deep_large, self.deep_small, small),
        ]


def ratio(result: Result, baseline: Result) -> float:
    """Wall-clock throughput relative to the baseline (higher is faster)."""
    return result.rps / baseline.rps if baseline.rps else math.nan


def _optional(value: float | None, pattern: str) -> str:
    """`value` formatted, or n/a when it could not be measured."""
    return "n/a" if value is None else pattern.format(value)


def capacity_ratio(result: Result, baseline: Result) -> float | None:
    """Throughput per server CPU-second relative to the baseline (higher is faster)."""
    if result.server_cpu_us is None or baseline.server_cpu_us is None:
        return None
    return baseline.server_cpu_us / result.server_cpu_us if result.server_cpu_us else math.nan


def _versus(value: float | None, name: str) -> str:
    """A ratio cell such as `0.39x ceiling`."""
    return "n/a" if value is None else f"{value:.2f}x {name}"


def _row(r: Result, baseline: Result | None, name: str) -> str:
    """One table row; req/s carries a `*` when the server was not the bottleneck."""
    mark = "" if r.server_load is None or r.server_load >= SATURATED else "*"
    by_rps = "baseline" if baseline is None else _versus(ratio(r, baseline), name)
    by_cpu = "baseline" if baseline is None else _versus(capacity_ratio(r, baseline), name)
    return (
        f"| {r.scenario} | {r.server} | {r.rps:,.0f}{mark} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
        f"| {by_rps} | {_optional(r.server_cpu_us, '{:,.0f}')} | {by_cpu} "
        f"| {_optional(r.server_load, '{:.0%}')} | {r.client_load:.0%} |"
    )


def table(results: Results) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | server | req/s | p50 ms | p99 ms | ratio (req/s) | server CPU µs/req "
        "| ratio (req per server CPU-s) | server busy | client busy |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---:|",
    ]
    lines += [_row(*row) for row in results.rows()]
    return "\n".join(lines)


def verdict(met: bool) -> str:
    """The last word of a goal line."""
    return "met" if met else "NOT met"


def share_of_ceiling(what: str, result: Result, ceiling: Result, goal: float | None) -> str:
    """`what` throughput as a share of the ceiling's; judged per server CPU-second when known."""
    by_rps = ratio(result, ceiling)
    by_cpu = capacity_ratio(result, ceiling)
    share = f"{by_rps:.0%} of ceiling"
    if by_cpu is not None:
        share = f"{by_cpu:.0%} of ceiling per server CPU-second, {by_rps:.0%} by wall-clock req/s"
    if goal is None:
        return f"{what} throughput: {share} (no goal)"
    met = (by_rps if by_cpu is None else by_cpu) >= goal
    return f"{what} throughput: {share} (goal ≥ {goal:.0%}) — {verdict(met)}"


def size_goal(results: Results, large: Result, small: Result) -> str:
    """A page at the large size costs what it costs at the small size, within the tolerance."""
    by_rps = small.rps / large.rps if large.rps else math.inf
    by_cpu = capacity_ratio(small, large)
    p50 = large.p50_ms / small.p50_ms if small.p50_ms else math.inf
    measured = f"{by_rps:.2f}x by req/s, p50 {p50:.2f}x"
    if by_cpu is not None:
        measured = f"{by_cpu:.2f}x server CPU per request ({measured})"
    cost = by_rps if by_cpu is None else by_cpu
    return (
        f"{large.scenario} at {results.large:,} vs {results.small:,} records: cost {measured} "
        f"(goal: same within {SIZE_TOLERANCE:.0%}) — {verdict(abs(cost - 1) <= SIZE_TOLERANCE)}"
    )


def report(results: Results) -> str:
    """Table, goal checks, and warnings about runs that cannot be trusted."""
    rows = results.rows()
    lines = [
        table(results),
        "",
        share_of_ceiling("by-id", results.by_id, results.by_id_ceiling, BY_ID_GOAL),
        share_of_ceiling("list 100", results.page_small, results.page_ceiling, PAGE_GOAL),
        size_goal(results, results.page_large, results.page_small),
        size_goal(results, results.deep_large, results.deep_small),
    ]
    if any(r.server_load is not None and r.server_load < SATURATED for r, _, _ in rows):
        lines.append(
            f"* the server was busy less than {SATURATED:.0%} of that run, so its req/s "
            "measures the client and the machine as much as the server; trust the CPU columns"
        )
    errors = sum(r.errors for r, _, _ in rows)
    if errors:
        lines.append(f"WARNING: {errors} responses were not 200; the numbers above are suspect")
    return "\n".join(lines)
