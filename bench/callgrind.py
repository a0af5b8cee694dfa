"""Counting the CPU instructions of blocks of work in a child process, under valgrind's callgrind.

The child runs its setup uninstrumented (`--instr-atstart=no`: imports, seeding and sign-ins
would otherwise cost a minute of simulation), calls `start_counting()`, then wraps each block
it wants counted in `block(label)`. Callgrind dumps its counters on every call of
`os.getppid()` (`--dump-before`), which `block` makes on entering and on leaving; the parent
reads the dumps back in order and pairs each second one with a label the child printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_BLOCK = "BLOCK "
_DUMP = "os_getppid*"
# A fixed hash seed: the same dict and set layouts, so the same counts, run after run.
HASH_SEED = "0"
# glibc picks its memcpy, strlen and the like by the processor: with `rep movsb` (ERMS), which
# valgrind counts once a byte, a 100 KB body's copy is 100k instructions; with AVX2, 3k. So
# the counted child gets the SSE2 versions every x86-64 has, whatever processor runs it (the
# names glibc does not know, on another architecture, it ignores).
SSE2_STRING_FUNCTIONS = "glibc.cpu.hwcaps=" + ",".join(
    f"-{feature}"
    for feature in ("AVX512F", "AVX512VL", "AVX512BW", "AVX2", "AVX", "AVX_Fast_Unaligned_Load",
                    "ERMS", "SSSE3", "SSE4_1", "SSE4_2", "BMI2", "Fast_Unaligned_Copy")
)  # fmt: skip
# What `realloc` does is left out of the counts (collection is off inside it): whether it grows
# a block in place or moves it depends on where earlier allocations left free space, not on
# the code. In about one run in ten, orjson's growing output buffer moved at each step of
# every request: the same code's Decoda charge list counted a fifth more.
_LEFT_OUT = ("--toggle-collect=realloc", "--collect-atstart=yes")
# How long the child waits for valgrind to take `instrumentation on`: valgrind polls for
# vgdb's commands while the program runs, which takes a fraction of a second.
_INSTRUMENT_WAIT = 60.0


class CallgrindError(RuntimeError):
    """Valgrind is missing, or the counted run failed or dumped other than it should."""


class NoValgrind(CallgrindError):
    """Valgrind is not installed (callers exit 2 on it)."""


def valgrind() -> str:
    """The `valgrind` on the PATH."""
    found = shutil.which("valgrind")
    if found is None:
        raise NoValgrind("valgrind is not installed (Debian: apt-get install valgrind)")
    return found


def valgrind_version() -> str:
    """As `valgrind --version` says it: `valgrind-3.19.0`."""
    run = subprocess.run([valgrind(), "--version"], capture_output=True, text=True, timeout=60)
    return run.stdout.strip()


def count_blocks(child: list[str], timeout: float) -> dict[str, int]:
    """Run `child` (a command line) under callgrind: each labelled block's instructions."""
    program = valgrind()
    with tempfile.TemporaryDirectory(prefix="callgrind-") as work:
        prefix = Path(work) / "callgrind.out"
        command = [program, "--tool=callgrind", "--instr-atstart=no", f"--dump-before={_DUMP}",
                   *_LEFT_OUT, f"--callgrind-out-file={prefix}", *child]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": HASH_SEED, "GLIBC_TUNABLES": SSE2_STRING_FUNCTIONS}
        try:
            run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as late:
            raise CallgrindError(f"the counted run took over {timeout:.0f} s") from late
        if run.returncode != 0:
            said = [line for line in run.stderr.splitlines() if not line.startswith("==")]
            raise CallgrindError(
                f"the counted run exited {run.returncode}: " + " | ".join(said[-5:])
            )
        labels = [line.removeprefix(_BLOCK) for line in run.stdout.splitlines()
                  if line.startswith(_BLOCK)]  # fmt: skip
        return paired(labels, dumped_totals(prefix))


def paired(labels: list[str], totals: list[int]) -> dict[str, int]:
    """Each block's count: dumps alternate, what came before a block (discarded), then the
    block, whose label the child printed once it was done."""
    if len(totals) != 2 * len(labels):
        # Something else called getppid(): the dumps no longer pair with the blocks.
        raise CallgrindError(
            f"{len(totals)} dumps for {len(labels)} blocks (expected two a block): "
            "something in the counted code calls os.getppid()"
        )
    return dict(zip(labels, totals[1::2], strict=True))


def dumped_totals(prefix: Path) -> list[int]:
    """Each getppid dump's instruction total, in the order the dumps were made (the dump at
    the program's end, the file without a number, is not one of them)."""
    numbered = [path for path in prefix.parent.glob(prefix.name + ".*")
                if path.suffix[1:].isdigit()]  # fmt: skip
    totals = []
    for path in sorted(numbered, key=lambda path: int(path.suffix[1:])):
        text = path.read_text()
        if f"Trigger: --dump-before={_DUMP.rstrip('*')}" not in text:
            raise CallgrindError(f"{path.name} is not a dump made at os.getppid()")
        found = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
        if found is None:
            raise CallgrindError(f"{path.name} holds no totals")
        totals.append(int(found.group(1)))
    return totals


def start_counting() -> None:
    """In the child: turn callgrind's instrumentation on from here (through `vgdb`, valgrind's
    own monitor client). The child keeps running meanwhile, so that valgrind polls for the
    command; nothing before the first `block` is counted either way."""
    vgdb = shutil.which("vgdb")
    if vgdb is None:
        raise CallgrindError("vgdb (part of valgrind) is not on the PATH")
    command = [vgdb, f"--pid={os.getpid()}", "instrumentation", "on"]
    asked = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + _INSTRUMENT_WAIT
    while asked.poll() is None:
        if time.monotonic() > deadline:
            asked.kill()
            asked.wait()
            raise CallgrindError(f"vgdb could not turn instrumentation on in {_INSTRUMENT_WAIT} s")
    said = asked.communicate()[0].decode(errors="replace").strip()
    if asked.returncode != 0:
        raise CallgrindError(f"vgdb could not turn instrumentation on: {said}")


@contextmanager
def block(label: str) -> Iterator[None]:
    """In the child: count what runs inside as the block `label`."""
    os.getppid()  # a dump: what came before
    yield
    os.getppid()  # a dump: this block
    print(f"{_BLOCK}{label}", flush=True)


def end_child() -> None:
    """In the child, once the blocks are done: exit without the interpreter's teardown, which
    callgrind would otherwise simulate for seconds (nothing after it is counted)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
