"""The fuzzing runs' schemathesis configuration: this directory's file for the run (warnings,
phases, data sources), followed by the business-rule answers `billing-sandbox conformance`
ships, so the fuzzing holds the sandbox to the same answers a user's run does."""

from __future__ import annotations

from pathlib import Path

from billing_sandbox.conformance.answers import answers_toml, expected_statuses

HERE = Path(__file__).parent


def config_file(api: str, name: str, workdir: Path) -> Path:
    """`name` (a TOML file here) with `api`'s shipped answers, written into `workdir`."""
    text = (HERE / name).read_text(encoding="utf-8")
    answers = "\n".join(answers_toml(expected_statuses(api)))
    path = workdir / f"with-answers-{name}"
    path.write_text(f"{text.rstrip()}\n\n{answers}", encoding="utf-8")
    return path
