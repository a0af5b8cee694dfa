"""Schemathesis' events, read into a table of operations by checks and reproducible failures."""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MASK = "[masked]"
# Headers whose values are credentials whatever they hold; schemathesis already filters these
# two, this is the second lock.
SECRET_HEADERS = frozenset({"authorization", "api-key"})
BODY_PREVIEW_CHARS = 300
MESSAGE_LINES = 8
# schemathesis' statuses for one check of one case, and the column each is counted in.
COLUMNS = {"success": "passed", "failure": "failed", "skip": "skipped"}


class Masker:
    """Replaces every secret of the run with `[masked]` in anything about to leave the process.

    A secret is masked where it stands as a whole token (not inside a longer word), so a
    one-letter secret does not shred every message. Structured reports are masked after
    parsing, value by value: a secret that is also a JSON keyword or a field name (`true`,
    `status`) can never break the file it is masked in."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a token that contains a shorter secret is masked whole.
        unique = sorted({s for s in secrets if s}, key=len, reverse=True)
        alternatives = "|".join(re.escape(secret) for secret in unique)
        self._pattern = (
            re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])") if unique else None
        )

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A parsed JSON value with every string in it masked (keys are the spec's names)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        return value

    def file(self, path: Path) -> None:
        """Mask a report file in place, so none keeps a secret on disk: NDJSON event by event,
        XML element by element, anything else as text."""
        if not path.is_file() or self._pattern is None:
            return
        if path.suffix == ".ndjson":
            lines = path.read_text(encoding="utf-8").splitlines()
            events = [_event(line, path, n) for n, line in enumerate(lines, 1) if line.strip()]
            masked = [json.dumps(self.value(event)) for event in events]
            path.write_text("".join(line + "\n" for line in masked), encoding="utf-8")
        elif path.suffix == ".xml":
            # S314: the JUnit report schemathesis (our child process) just wrote; and expat
            # as Python ships it expands no external entity and caps entity expansion.
            tree = ElementTree.parse(path)  # noqa: S314
            for element in tree.iter():
                element.text = None if element.text is None else self(element.text)
                element.tail = None if element.tail is None else self(element.tail)
                for name, attribute in element.attrib.items():
                    element.set(name, self(attribute))
            tree.write(path, encoding="utf-8", xml_declaration=True)
        else:
            path.write_text(self(path.read_text(encoding="utf-8")), encoding="utf-8")


@dataclass(frozen=True)
class Failure:
    """One distinct failure: where, which check, the smallest request that shows it, and why."""

    operation: str
    check: str
    code: str
    title: str
    message: str
    curl: str
    response: str


@dataclass
class Results:
    """What the run found, collected from its events."""

    tally: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    failures: dict[tuple[str, str, str], Failure] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)
    finished: bool = False

    @property
    def failed_operations(self) -> set[str]:
        return {failure.operation for failure in self.failures.values()}


def read_events(path: Path, masker: Masker) -> Results:
    """Collect the results from an NDJSON event file (schemathesis' `--report ndjson`)."""
    results = Results()
    if not path.is_file():
        return results
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                _record(results, _event(line, path, number), masker)
    return results


def _event(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path.name} line {number} is not JSON ({error})") from None
    if not isinstance(event, dict) or not event:
        raise ValueError(f"{path.name} line {number} is not an event")
    return event


def _record(results: Results, event: dict[str, Any], masker: Masker) -> None:
    kind, data = next(iter(event.items()))
    if kind == "PhaseStarted":
        results.phases.append(data["phase"]["name"])
    elif kind == "EngineFinished":
        results.finished = True
    elif kind in {"NonFatalError", "FatalError"}:
        value = data.get("value") or data.get("info") or {}
        results.errors.append(masker(f"{value.get('type', kind)}: {value.get('message', '')}"))
    elif kind == "ScenarioFinished":
        _scenario(results, data["recorder"], masker)


def _scenario(results: Results, recorder: dict[str, Any], masker: Masker) -> None:
    cases = recorder.get("cases", {})
    interactions = recorder.get("interactions", {})
    for case_id, checks in recorder.get("checks", {}).items():
        case = (cases.get(case_id) or {}).get("value") or {}
        operation = f"{case.get('method', '?')} {case.get('path', '?')}"
        for check in checks:
            name = check["name"]
            counter = results.tally.setdefault((operation, name), Counter())
            counter[COLUMNS.get(check["status"], "skipped")] += 1
            if check["status"] != "failure":
                continue
            info = (check.get("failure_info") or {}).get("failure") or {}
            failure = _failure(operation, name, info, interactions.get(case_id), masker)
            key = (operation, name, failure.code)
            known = results.failures.get(key)
            # schemathesis shrinks a failing case; the shortest request is the minimal one.
            if known is None or len(failure.curl) < len(known.curl):
                results.failures[key] = failure


def _failure(
    operation: str,
    check: str,
    info: dict[str, Any],
    interaction: dict[str, Any] | None,
    masker: Masker,
) -> Failure:
    request = (interaction or {}).get("request") or {}
    response = (interaction or {}).get("response") or {}
    seen = ""
    if response:
        body = _body(response.get("content"))
        if len(body) > BODY_PREVIEW_CHARS:
            body = body[:BODY_PREVIEW_CHARS] + "…"
        seen = f"{response.get('status_code')} {body}".strip()
    return Failure(
        operation=operation,
        check=check,
        code=str(info.get("code", "")),
        title=str(info.get("title", "")),
        message=masker(str(info.get("message", ""))),
        curl=masker(curl(request)) if request else "",
        response=masker(seen),
    )


def curl(request: dict[str, Any]) -> str:
    """A curl command that sends `request` (an interaction's request), secrets masked."""
    parts = ["curl", "-X", str(request.get("method", "GET"))]
    for name, values in (request.get("headers") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            shown = MASK if name.lower() in SECRET_HEADERS else value
            parts += ["-H", f"{name}: {shown}"]
    body = _body(request.get("body"))
    if body:
        parts += ["-d", body]
    parts.append(str(request.get("uri", "")))
    return shlex.join(parts)


def _body(content: Any) -> str:
    """A recorded body as text: schemathesis stores bytes as `{"$base64": ...}`."""
    if content is None:
        return ""
    if isinstance(content, dict) and "$base64" in content:
        return base64.b64decode(content["$base64"]).decode("utf-8", errors="replace")
    return content if isinstance(content, str) else json.dumps(content)


def table(results: Results, operations: Sequence[str], skipped: Sequence[str]) -> str:
    """Operations by checks: how many cases each check passed, failed and skipped.

    Operations left out of the run (read-only safety) are listed with the reason.
    """
    header = ("operation", "check", "passed", "failed", "skipped")
    rows: list[tuple[str, ...]] = []
    for operation in operations:
        checks = sorted(check for op, check in results.tally if op == operation)
        if not checks:
            rows.append((operation, "(no case reached the server)", "0", "0", "0"))
        for index, check in enumerate(checks):
            counts = results.tally[(operation, check)]
            mark = " ✗" if counts["failed"] else ""
            rows.append(
                (
                    operation if index == 0 else "",
                    check + mark,
                    str(counts["passed"]),
                    str(counts["failed"]),
                    str(counts["skipped"]),
                )
            )
    for operation in skipped:
        rows.append((operation, "(not run: writes not allowed, see --allow-writes)", "", "", ""))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def describe(failure: Failure) -> str:
    """One failure, for the terminal: operation, check, reproduction, and what differed."""
    lines = [f"{failure.operation}: {failure.check} ({failure.code} {failure.title})"]
    if failure.curl:
        lines.append(f"  reproduce: {failure.curl}")
    if failure.response:
        lines.append(f"  got:       {failure.response}")
    # The message's head says what differed; the schema and value dumps after it are in the
    # JUnit report, and would bury the next failure on a terminal.
    head = failure.message.split("\nSchema at", 1)[0].strip().splitlines()
    for text in head[:MESSAGE_LINES]:
        if text.strip():
            lines.append(f"  differs:   {text.rstrip()}")
    return "\n".join(lines)
