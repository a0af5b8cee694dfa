"""By-hand: CPU instructions per request of a whole running `billing-sandbox serve`, uvicorn,
sockets and all, counted by callgrind. Where `bench_instructions.py` counts the app alone in
process, this counts what a user's server spends: how the sandbox's own cost weighs in the
whole, and what a flag saves (run it twice, with and without the flag, and compare).

    .venv/bin/python bench/serve_instructions.py --only "by id"
    .venv/bin/python bench/serve_instructions.py --only "by id" -- --no-metrics

The server runs under `valgrind --tool=callgrind` (about fifty times slower: a minute to
start). For each scenario of `bench_apis.py`, the client warms it up, zeroes the counters
(`callgrind_control -z`), sends `--requests` requests over 8 keep-alive connections, dumps the
counters (`callgrind_control -d`) and divides. The server logs a line per request as users run
it (to nowhere: add `--quiet` after `--` to leave the log out). `PYTHONHASHSEED` is fixed;
counts repeat within about a percent (the event loop's own timing varies). Needs `valgrind`;
exits 2 without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_apis import Scenario, discover, reset_writes
from loadgen import build_request, read_response
from servers import free_port

START_SECONDS = 300.0  # a server under callgrind takes about a minute to listen


async def _send(port: int, request: bytes, count: int, connections: int = 8) -> None:
    """`count` requests in all over `connections` keep-alive connections; each must succeed."""
    left = [count]

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                status, body = await read_response(reader)
                if status >= 300:
                    raise SystemExit(f"answered {status}: {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))


async def _wait_listening(port: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_SECONDS
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                said = f"the server did not listen within {START_SECONDS:.0f} s"
                raise SystemExit(said) from None
            await asyncio.sleep(0.5)
        else:
            writer.close()
            return


def _dumped_total(directory: Path, before: set[Path]) -> int:
    """The instruction total of the dump `callgrind_control -d` just wrote."""
    [dump] = set(directory.glob("callgrind.out.*")) - before
    found = re.search(r"^(?:totals|summary): (\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total in {dump}")
    return int(found[1])


def _count(pid: int, directory: Path, port: int, scenario: Scenario, requests: int) -> float:
    request = build_request(scenario.method, scenario.path, port, scenario.headers, scenario.body)
    if scenario.write:
        asyncio.run(reset_writes(port))
    asyncio.run(_send(port, request, 100))
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    asyncio.run(_send(port, request, requests))
    before = set(directory.glob("callgrind.out.*"))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    return _dumped_total(directory, before) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="WORDS",
                        help="only the scenarios whose name has WORDS (repeatable)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=400, help="counted per scenario")
    parser.add_argument("serve_options", nargs="*", help="after --: options of serve")
    options = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("serve_instructions: valgrind is not installed (Debian: valgrind)", file=sys.stderr)
        return 2
    port = free_port()
    serve = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="serve-instructions-") as scratch:
        directory = Path(scratch)
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=callgrind.out.%p",
             *serve, *options.serve_options],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        try:
            asyncio.run(_wait_listening(port))
            print("| request | instructions/request |\n|---|---:|")
            for scenario in asyncio.run(discover(port)):
                if options.only and not any(w in scenario.name for w in options.only):
                    continue
                counted = _count(process.pid, directory, port, scenario, options.requests)
                print(f"| {scenario.name} | {counted / 1000:,.1f}k |", flush=True)
        finally:
            process.terminate()
            process.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
