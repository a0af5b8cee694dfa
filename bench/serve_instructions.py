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

With `--ceiling`, the bare Starlette app of `bench_apis.py` (the same uvicorn, answering each
path with the sandbox's very bytes) runs under callgrind beside it and is counted the same way:
the ceiling's count over the sandbox's is the whole server's ratio in instructions, which does
not move with a noisy machine as requests per second do.

    .venv/bin/python bench/serve_instructions.py --ceiling --only "by id" --only write
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

import orjson
from bench_apis import Scenario, answers_of, ceiling_script, discover, reset_writes
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
    [dump] = set(directory.glob("*callgrind.out.*")) - before
    found = re.search(r"^(?:totals|summary): (\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total in {dump}")
    return int(found[1])


def _count(
    pid: int, directory: Path, port: int, scenario: Scenario, requests: int, sandbox: bool = True
) -> float:
    request = build_request(scenario.method, scenario.path, port, scenario.headers, scenario.body)
    if scenario.write and sandbox:
        asyncio.run(reset_writes(port))
    asyncio.run(_send(port, request, 100))
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    asyncio.run(_send(port, request, requests))
    before = set(directory.glob("*callgrind.out.*"))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    return _dumped_total(directory, before) / requests


def _counted(command: list[str], directory: Path, name: str) -> subprocess.Popen[bytes]:
    """`command` running under callgrind, its dumps in `directory` (named `name`)."""
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={name}.callgrind.out.%p",
         *command],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="WORDS",
                        help="only the scenarios whose name has WORDS (repeatable)")  # fmt: skip
    parser.add_argument("--requests", type=int, default=400, help="counted per scenario")
    parser.add_argument("--ceiling", action="store_true",
                        help="also count the bare Starlette ceiling, and the ratio")  # fmt: skip
    parser.add_argument("serve_options", nargs="*", help="after --: options of serve")
    options = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("serve_instructions: valgrind is not installed (Debian: valgrind)", file=sys.stderr)
        return 2
    port = free_port()
    serve = [sys.executable, "-m", "billing_sandbox", "serve", "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="serve-instructions-") as scratch:
        directory = Path(scratch)
        processes = [_counted([*serve, *options.serve_options], directory, "sandbox")]
        try:
            asyncio.run(_wait_listening(port))
            scenarios = [
                scenario
                for scenario in asyncio.run(discover(port))
                if not options.only or any(w in scenario.name for w in options.only)
            ]
            ceiling_port = None
            if options.ceiling:
                bodies = directory / "answers.json"
                bodies.write_bytes(orjson.dumps(asyncio.run(answers_of(port, scenarios))))
                script = directory / "ceiling.py"
                script.write_text(ceiling_script(bodies))
                ceiling_port = free_port()
                ceiling = [sys.executable, str(script), "uvicorn", str(ceiling_port)]
                processes.append(_counted(ceiling, directory, "ceiling"))
                asyncio.run(_wait_listening(ceiling_port))
                print("| request | sandbox instructions/request | ceiling | ceiling / sandbox |")
                print("|---|---:|---:|---:|")
            else:
                print("| request | instructions/request |\n|---|---:|")
            for scenario in scenarios:
                counted = _count(processes[0].pid, directory, port, scenario, options.requests)
                if ceiling_port is None:
                    print(f"| {scenario.name} | {counted / 1000:,.1f}k |", flush=True)
                    continue
                bare = _count(processes[1].pid, directory, ceiling_port, scenario,
                              options.requests, sandbox=False)  # fmt: skip
                print(f"| {scenario.name} | {counted / 1000:,.1f}k | {bare / 1000:,.1f}k | "
                      f"{bare / counted:.3f} |", flush=True)  # fmt: skip
        finally:
            for process in processes:
                process.terminate()
                process.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
