"""By-hand benchmark of the Candid write-offs fake (never run in CI; see bench/README.md).

Starts each server as a subprocess on 127.0.0.1 (uvicorn with uvloop and httptools), drives it
with a small asyncio load generator speaking keep-alive HTTP/1.1, and prints a Markdown table:

1. `GET /api/write-offs/v1/{id}` and `GET /api/write-offs/v1?limit=100` on the sandbox, next to
   a "ceiling": a bare Starlette app on the same server stack returning the same response bytes.
2. The same list page, and a page a few `next_page_token` hops in, at two tenant sizes.

Run from the checkout with the project's virtualenv: `python bench/bench_candid.py --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from candid_rounds import Options, run_all
from loadgen import BenchError
from report import report
from servers import split_cpus

Number = TypeVar("Number", int, float)


def _positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """An argparse type that accepts only values above zero."""

    def parse(text: str) -> Number:
        """`kind(text)`, refused unless above zero."""
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above zero, not {text}")
        return value

    return parse


def parse_options(argv: Sequence[str] | None) -> Options:
    """The command line; every flag has a default that reproduces the README's table."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    seconds, count = _positive(float), _positive(int)
    parser.add_argument("--duration", type=seconds, default=3.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=seconds, default=1.0, help="warm-up seconds per scenario")
    parser.add_argument("--connections", type=count, default=8, help="concurrent connections")
    parser.add_argument("--max-requests", type=count, default=1_000_000, help="cap per scenario")
    parser.add_argument("--small", type=count, default=10_000, help="records, small tenant")
    parser.add_argument("--large", type=count, default=100_000, help="records, large tenant")
    parser.add_argument(
        "--deep", type=count, default=10, help="next_page_token hops to the deep page"
    )
    parser.add_argument("--rounds", type=count, default=3, help="interleaved rounds per scenario")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin client and servers to disjoint CPUs"
    )
    args = parser.parse_args(argv)
    return Options(
        args.duration,
        args.warmup,
        args.connections,
        args.max_requests,
        args.small,
        args.large,
        args.deep,
        args.rounds,
        not args.no_pin,
    )


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop for the client too, so the load generator spends less CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; the exit status."""
    opts = parse_options(argv)
    split = split_cpus() if opts.pin else None
    if split is not None:
        os.sched_setaffinity(0, split[0])
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            results = run_all(runner.run, opts, None if split is None else split[1])
    except (BenchError, OSError, EOFError) as error:
        print(f"bench_candid: {error!r}", file=sys.stderr)
        return 1
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
