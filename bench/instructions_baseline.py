"""The instruction-count baseline the CI guard compares with, and the comparison itself.

Absolute counts differ between machines: glibc picks its `memcpy` and `strlen` by the CPU, a
Python build differs from another. So each scenario is judged by its **ratio to the ceiling
measured in the same run** (a bare Starlette app answering the same bytes, on the same
interpreter and libc): the ratio now against the baseline's ratio, failing past `TOLERANCE`.
The machine facts are kept beside the counts so that a report says when they differ.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callgrind import valgrind_version

TOLERANCE = 0.10  # a scenario fails when its ratio to the ceiling rises past this
_WHAT = ("CPU instructions per request under callgrind, the sandbox's and a bare Starlette "
         "ceiling's: bench/instructions_guard.py. Moved only by --update, in a commit that says "
         "why (bench/README.md).")  # fmt: skip


class BaselineError(ValueError):
    """The baseline file cannot be read as one."""


@dataclass(frozen=True)
class Figures:
    """One scenario's instructions per request."""

    sandbox: int
    ceiling: int

    @property
    def ratio(self) -> float:
        return self.sandbox / self.ceiling


@dataclass(frozen=True)
class Baseline:
    """What was counted (per scenario), on what (the machine facts), how many calls a block."""

    machine: dict[str, str]
    requests: int
    scenarios: dict[str, Figures]


def machine_facts() -> dict[str, str]:
    """What changes counts besides the code: the interpreter and its build, the libc and the
    processor (the string functions glibc picks), valgrind. Not the kernel: no user-space
    instruction depends on it."""
    libc, libc_version = platform.libc_ver()
    return {
        "python": f"{platform.python_version()} {platform.python_implementation()} "
        f"({platform.python_compiler()})",
        "platform": f"{platform.system()}-{platform.machine()}-{libc}{libc_version}",
        "cpu": _cpu_model(),
        "valgrind": valgrind_version(),
    }


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def write(path: Path, baseline: Baseline) -> None:
    document = {
        "what": _WHAT,
        "machine": baseline.machine,
        "requests_per_block": baseline.requests,
        "scenarios": {name: asdict(figures) for name, figures in baseline.scenarios.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def read(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text())
        return Baseline(
            machine={str(k): str(v) for k, v in document["machine"].items()},
            requests=int(document["requests_per_block"]),
            scenarios={
                str(name): Figures(_positive(figures["sandbox"]), _positive(figures["ceiling"]))
                for name, figures in document["scenarios"].items()
            },
        )
    except FileNotFoundError as missing:
        raise BaselineError(f"no baseline at {path}: make one with --update") from missing
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as bad:
        raise BaselineError(f"{path} is not a baseline ({type(bad).__name__}: {bad})") from bad


def _positive(count: object) -> int:
    """A count read back: a ratio is taken of it, so it is a whole number above zero."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"a count must be a whole number above zero, not {count!r}")
    return count


@dataclass(frozen=True)
class Row:
    """One scenario's line of the report; `before` is None when the baseline lacks it."""

    name: str
    label: str
    before: Figures | None
    now: Figures

    @property
    def change(self) -> float | None:
        """The ratio to the ceiling now over the baseline's, less one: +0.05 is 5% dearer."""
        return None if self.before is None else self.now.ratio / self.before.ratio - 1

    @property
    def failed(self) -> bool:
        change = self.change
        return change is None or change > TOLERANCE


@dataclass(frozen=True)
class Verdict:
    rows: list[Row]
    problems: list[str] = field(default_factory=list)  # each fails the guard
    notes: list[str] = field(default_factory=list)  # worth knowing, failing nothing

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def compare(
    baseline: Baseline, now: dict[str, Figures], machine: dict[str, str], requests: int,
    labels: dict[str, str],
) -> Verdict:  # fmt: skip
    """Every scenario counted now against the baseline: a verdict, with what fails it (a rise
    past the tolerance, a scenario the baseline lacks or no longer measured) and notes."""
    rows = [Row(name, labels.get(name, name), baseline.scenarios.get(name), figures)
            for name, figures in now.items()]  # fmt: skip
    problems = []
    for row in rows:
        if row.before is None:
            problems.append(
                f"{row.name}: not in the baseline; add it with --update, in a commit that says why"
            )
        elif row.failed:
            problems.append(
                f"{row.name}: {row.now.ratio:.3f}x the ceiling, {row.before.ratio:.3f}x in the "
                f"baseline: {_percent(row.change)} (tolerance +{TOLERANCE:.0%})"
            )
    for name in sorted(baseline.scenarios.keys() - now.keys()):
        problems.append(
            f"{name}: in the baseline but no longer counted; drop it with --update, in a "
            "commit that says why"
        )
    notes = [
        f"the baseline was counted with {fact} {baseline.machine[fact]!r}, this run with "
        f"{machine[fact]!r}: absolute counts differ, the ratios to the ceiling much less; if "
        "it fails on this alone, make the baseline on this machine"
        for fact in sorted(baseline.machine.keys() & machine.keys())
        if baseline.machine[fact] != machine[fact]
    ]
    cheaper = [row.name for row in rows if row.change is not None and row.change < -TOLERANCE]
    if cheaper:
        # Slack left in the baseline would let a later rise of as much pass unseen.
        notes.append(
            f"{', '.join(cheaper)}: over {TOLERANCE:.0%} cheaper than the baseline; move it "
            "with --update, in a commit that says why"
        )
    if requests != baseline.requests:
        notes.append(f"blocks of {requests} calls, the baseline's of {baseline.requests}")
    return Verdict(rows, problems, notes)


def _percent(change: float | None) -> str:
    return "n/a" if change is None else f"{change:+.1%}"


def report(verdict: Verdict) -> str:
    """The table of every scenario (baseline, now, change), then notes and the verdict."""
    lines = [
        "| scenario | baseline sandbox | now sandbox | baseline ceiling | now ceiling "
        "| baseline ratio | now ratio | change | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in verdict.rows:
        before = row.before
        lines.append(
            f"| {row.label} | {_count(None if before is None else before.sandbox)} "
            f"| {_count(row.now.sandbox)} "
            f"| {_count(None if before is None else before.ceiling)} | {_count(row.now.ceiling)} "
            f"| {'n/a' if before is None else f'{before.ratio:.3f}'} | {row.now.ratio:.3f} "
            f"| {_percent(row.change)} | {'FAIL' if row.failed else 'ok'} |"
        )
    lines += [f"note: {note}" for note in verdict.notes]
    if verdict.failed:
        lines += [f"FAIL: {problem}" for problem in verdict.problems]
    else:
        lines.append(f"ok: every scenario within +{TOLERANCE:.0%} of its baseline ratio")
    return "\n".join(lines)


def _count(count: int | None) -> str:
    return "n/a" if count is None else f"{count / 1000:,.1f}k"
