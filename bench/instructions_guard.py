"""CI's regression guard on CPU instructions per request (bench/README.md, issue 33).

Counts every scenario of `instruction_requests.py` under callgrind (the seven reads and three
writes of `bench_apis.py`, in process, each next to a bare Starlette ceiling answering the same
bytes), compares each one's ratio to the ceiling with `bench/instructions-baseline.json`, and
prints a table of every scenario: baseline, now, change.

    .venv/bin/python bench/instructions_guard.py            # under a minute; needs valgrind
    .venv/bin/python bench/instructions_guard.py --update   # move the baseline (commit why)

Exits 0 when every scenario is within +10% of its baseline ratio; 1 when one is over it, the
baseline lacks a scenario or names one no longer counted, or the counted run failed; 2 without
valgrind or without a readable baseline.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from callgrind import CallgrindError, NoValgrind, valgrind
from instruction_requests import CASES, measure
from instructions_baseline import (
    Baseline,
    BaselineError,
    Figures,
    compare,
    machine_facts,
    read,
    report,
    write,
)

BASELINE = Path(__file__).with_name("instructions-baseline.json")
# Calls per block: enough that a garbage collection landing in one block or the next moves a
# scenario's count by well under 1%, few enough that the whole guard takes under a minute.
REQUESTS = 200

# What a guard run counts: each scenario's figures, and the machine they were counted on.
Count = Callable[[], tuple[dict[str, Figures], dict[str, str]]]


def count_all() -> tuple[dict[str, Figures], dict[str, str]]:
    print(f"instructions_guard: counting {len(CASES)} scenarios under callgrind, "
          f"{REQUESTS} calls a block", file=sys.stderr, flush=True)  # fmt: skip
    counts = measure(list(CASES), REQUESTS)
    figures = {name: Figures(round(c.sandbox), round(c.ceiling)) for name, c in counts.items()}
    return figures, machine_facts()


def run(path: Path, update: bool, count: Count = count_all) -> int:
    """Compare with the baseline at `path` (or, with `update`, rewrite it): the exit code."""
    try:
        before: Baseline | None = read(path)
    except BaselineError as unreadable:
        if not update:
            print(f"instructions_guard: {unreadable}", file=sys.stderr)
            return 2
        before = None
    try:
        now, machine = count()
    except NoValgrind as missing:
        print(f"instructions_guard: {missing}", file=sys.stderr)
        return 2
    except CallgrindError as failed:
        print(f"instructions_guard: {failed}", file=sys.stderr)
        return 1
    fresh = Baseline(machine, REQUESTS, now)
    verdict = compare(before or fresh, now, machine, REQUESTS, CASES)
    print(report(verdict))
    if update:
        try:
            write(path, fresh)
        except OSError as unwritable:
            print(f"instructions_guard: cannot write {path}: {unwritable.strerror}",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(f"instructions_guard: the baseline is now these counts, in {path}; commit it "
              "with a message that says why it moved")  # fmt: skip
        return 0
    return 1 if verdict.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=BASELINE,
                        help="the baseline file (default: %(default)s)")  # fmt: skip
    parser.add_argument("--update", action="store_true",
                        help="count, then rewrite the baseline with these counts")  # fmt: skip
    options = parser.parse_args(argv)
    try:
        valgrind()  # before anything else: without it, nothing here can run
    except NoValgrind as missing:
        print(f"instructions_guard: {missing}", file=sys.stderr)
        return 2
    return run(options.baseline, options.update)


if __name__ == "__main__":
    sys.exit(main())
