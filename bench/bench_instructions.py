"""By-hand: CPU instructions per request, the sandbox's app against a bare Starlette ceiling.

Wall-clock figures on a shared machine move by a tenth from one run to the next; instruction
counts do not. Each request is one in-process ASGI call (no uvicorn, no sockets: what the app
itself costs), counted by valgrind's callgrind in blocks of `--requests` calls, warm-up and
setup excluded (`instruction_requests.py`, `callgrind.py`). Needs `valgrind` (Debian:
`valgrind`); without it the script says so and exits 2. CI runs the same counts as a
regression guard, `instructions_guard.py`. See bench/README.md.

    .venv/bin/python bench/bench_instructions.py            # about half a minute
    .venv/bin/python bench/bench_instructions.py candid decoda --requests 300
    .venv/bin/python bench/bench_instructions.py --no-metrics   # the sandbox without metrics

Counts include what valgrind counts of a copy (`rep movsb`, one per byte), so a large body's
copies weigh more here than in wall time: compare requests with themselves, change by change.
"""

from __future__ import annotations

import argparse
import sys

from callgrind import CallgrindError, NoValgrind
from instruction_requests import CASES, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--requests", type=int, default=200, help="requests per block")
    parser.add_argument("--no-metrics", dest="metrics", action="store_false",
                        help="the sandbox as `serve --no-metrics` runs it")  # fmt: skip
    options = parser.parse_args(argv)
    cases = options.cases or list(CASES)
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(f"no such request: {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if options.requests < 1:
        parser.error("--requests must be at least 1")
    try:
        counts = measure(cases, options.requests, options.metrics)
    except NoValgrind as missing:
        print(f"bench_instructions: {missing}", file=sys.stderr)
        return 2
    except CallgrindError as failed:
        print(f"bench_instructions: {failed}", file=sys.stderr)
        return 1
    print("| request | ceiling instructions/request | sandbox | sandbox / ceiling |")
    print("|---|---:|---:|---:|")
    for name, counted in counts.items():
        print(f"| {CASES[name]} | {counted.ceiling / 1000:,.1f}k | "
              f"{counted.sandbox / 1000:,.1f}k | {counted.ratio:.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
