"""Running schemathesis' `st` on one API: its config file, its command line, and a progress line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from billing_sandbox.conformance.answers import answers_toml
from billing_sandbox.conformance.apis import Api, security_schemes
from billing_sandbox.conformance.login import Auth, CannotRun
from billing_sandbox.conformance.report import Masker

POLL_SECONDS = 0.25
# Credentials reach `st` through its environment, referenced from the config file, so they
# never appear on a command line (visible to every user of the machine in `ps`).
ENV_PREFIX = "BILLING_SANDBOX_CONFORMANCE_AUTH_"
# billing-sandbox is on no public index: the extra comes from a checkout or a built wheel.
INSTALL_HINT = (
    "schemathesis is not installed: install the conformance extra, which provides the `st` "
    "command: `pip install -e '.[conformance]'` in a checkout of billing-sandbox, or "
    "`pip install 'dist/billing_sandbox-<version>-py3-none-any.whl[conformance]'` from its "
    "built wheel"
)


@dataclass(frozen=True)
class Plan:
    """Everything one `st run` needs."""

    api: Api
    spec: Path
    base_url: str
    operation_ids: tuple[str, ...]
    # The statuses each operation may answer beyond schemathesis' defaults (answers.py).
    expected_statuses: Mapping[str, tuple[str, ...]]
    max_examples: int
    seed: int | None
    stateful: bool
    read_only: bool
    rate_limit: str | None
    report_dir: Path


def find_st() -> Path:
    """The `st` of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).with_name("st")
    if beside.is_file():
        return beside
    found = shutil.which("st")
    if found is None:
        raise CannotRun(INSTALL_HINT)
    return Path(found)


def config_text(plan: Plan) -> str:
    """The `--config-file` TOML: credentials by reference, business-rule answers, safety."""
    lines = [
        "# Written by `billing-sandbox conformance`; secrets come from the environment.",
        *answers_toml(plan.expected_statuses, plan.operation_ids),
    ]
    for scheme, kind in security_schemes(plan.spec).items():
        # http bearer schemes take `bearer`, apiKey schemes `api_key`.
        key = "bearer" if kind == "http" else "api_key"
        lines += [f"[auth.openapi.{scheme}]", f'{key} = "${{{ENV_PREFIX}{scheme.upper()}}}"', ""]
    # Only the spec's explicit links: inferred ones spread scenarios over chains that
    # mostly end in 404s (see tests/conformance/*.toml).
    lines += ["[phases.stateful.inference]", "algorithms = []", ""]
    if plan.read_only:
        # The coverage phase probes undeclared methods (POST, DELETE ...) for a 405; on a
        # real server such a probe could change something, so read-only runs send none.
        lines += ["[phases.coverage]", "unexpected-methods = []", ""]
    return "\n".join(lines)


def command(st: Path, plan: Plan, config: Path) -> list[str]:
    """The `st` command line (it holds no secret)."""
    phases = ["examples", "coverage", "fuzzing", *(["stateful"] if plan.stateful else [])]
    args = [
        str(st),
        "--config-file",
        str(config),
        "run",
        str(plan.spec),
        "--url",
        plan.base_url,
        "--checks",
        "all",
        "--max-examples",
        str(plan.max_examples),
        "--phases",
        ",".join(phases),
        "--report",
        "junit,ndjson",
        "--report-junit-path",
        str(plan.report_dir / "junit.xml"),
        "--report-ndjson-path",
        str(plan.report_dir / "events.ndjson"),
    ]
    if plan.seed is not None:
        args += ["--seed", str(plan.seed), "--generation-deterministic"]
    if plan.rate_limit:
        args += ["--rate-limit", plan.rate_limit]
    # Passing ids (not `--include-method GET`): schemathesis ORs its include filters, so a
    # method filter next to ids would select more than asked.
    for operation_id in plan.operation_ids:
        args += ["--include-operation-id", operation_id]
    return args


def run(plan: Plan, auth: Auth, workdir: Path, progress: TextIO) -> int:
    """Run `st` to completion, showing progress; returns its exit code."""
    st = find_st()
    config = workdir / "schemathesis.toml"
    config.write_text(config_text(plan), encoding="utf-8")
    env = {
        **os.environ,
        **{f"{ENV_PREFIX}{scheme.upper()}": value for scheme, value in auth.schemes.items()},
        "NO_COLOR": "1",
    }
    plan.report_dir.mkdir(parents=True, exist_ok=True)
    log = plan.report_dir / "schemathesis.log"
    events = plan.report_dir / "events.ndjson"
    events.unlink(missing_ok=True)
    with log.open("w", encoding="utf-8") as output:
        # cwd: schemathesis writes .hypothesis/ and .schemathesis/ there, not in the user's.
        # S603: schemathesis' own `st`, found beside this interpreter, with an argument
        # list we built (no shell).
        process = subprocess.Popen(  # noqa: S603
            command(st, plan, config), cwd=workdir, env=env, stdout=output, stderr=output
        )
        watcher = Progress(events, progress)
        try:
            while process.poll() is None:
                watcher.update()
                time.sleep(POLL_SECONDS)
            watcher.update()
        finally:
            # Whatever happens here (Ctrl+C included), no `st` keeps running behind us.
            if process.poll() is None:
                process.kill()
                process.wait()
            watcher.close()
    return process.returncode


class Progress:
    """One line that follows the event file: phase, cases checked, failures so far."""

    def __init__(self, events: Path, stream: TextIO) -> None:
        self._events = events
        self._stream = stream
        self._offset = 0
        self._phase = "loading"
        self._cases = 0
        self._failed = 0
        self._started = time.monotonic()
        self._tty = stream.isatty()
        self._shown = ""

    def update(self) -> None:
        if self._events.is_file():
            with self._events.open(encoding="utf-8") as file:
                file.seek(self._offset)
                for line in file:
                    if not line.endswith("\n"):
                        break  # half-written; read it whole next time
                    self._offset += len(line.encode("utf-8"))
                    self._event(json.loads(line))
        self._show()

    def _event(self, event: dict[str, Any]) -> None:
        kind, data = next(iter(event.items()))
        if kind == "PhaseStarted":
            self._phase = str(data["phase"]["name"])
        elif kind == "ScenarioFinished":
            # A scenario that sent nothing (all its cases skipped) records no checks.
            checks = (data.get("recorder") or {}).get("checks") or {}
            self._cases += len(checks)
            self._failed += sum(
                1 for results in checks.values() if any(c["status"] == "failure" for c in results)
            )

    def _show(self) -> None:
        elapsed = time.monotonic() - self._started
        text = (
            f"conformance: {self._phase} phase, {self._cases} cases checked, "
            f"{self._failed} failing, {elapsed:.0f} s"
        )
        if self._tty:
            self._stream.write("\r" + text.ljust(len(self._shown)))
            self._stream.flush()
            self._shown = text
        elif not self._shown.startswith(f"conformance: {self._phase} "):
            # Not a terminal (CI logs): one line per phase instead of a line every poll.
            self._stream.write(text + "\n")
            self._stream.flush()
            self._shown = text

    def close(self) -> None:
        if self._tty and self._shown:
            self._stream.write("\n")
            self._stream.flush()


def tail(path: Path, masker: Masker, lines: int = 25) -> str:
    """The end of schemathesis' own output, masked: why a run could not happen."""
    if not path.is_file():
        return ""
    text = masker(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def shown_command(args: Sequence[str], masker: Masker) -> str:
    """The command as printed (it holds no secret; masking is the second lock)."""
    return masker(" ".join(args))
