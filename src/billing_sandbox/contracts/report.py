"""What a verification found, written three ways: a table for the terminal, JUnit XML for CI,
and JSON for other tools.

The JSON report (`--json PATH`) is one object:

    {"format": "billing-sandbox/contract-verify/1",
     "target": URL, "sandbox": true|false,
     "summary": {"passed": N, "failed": N, "skipped": N},
     "pacts": [{"source": FILE, "consumer": NAME, "provider": NAME, "notes": [TEXT],
                "interactions": [{"index": N (from 0, its place in the file),
                                  "description": TEXT, "story": TENANT|null,
                                  "states": [NAME], "result": "passed"|"failed"|"skipped",
                                  "reason": TEXT (why skipped; else ""),
                                  "mismatches": [{"where": PLACE, "message": TEXT}],
                                  "notes": [TEXT]}]}]}

Every text passes through `mask` first, so no secret of the run reaches a report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from billing_sandbox.contracts.verify import FAILED, PASSED, SKIPPED, InteractionResult, PactResult

FORMAT = "billing-sandbox/contract-verify/1"
# Widest the first two columns of the table grow; longer texts are cut with an ellipsis (the
# JSON and JUnit reports keep them whole).
_LABEL_CHARS = 48
_STATES_CHARS = 32
# Reasons listed under a row past its first: a type changed in every item of a long list
# would otherwise fill the terminal.
_MORE_REASONS = 9
_MARKS = {PASSED: "passed", FAILED: "FAILED", SKIPPED: "skipped"}

Mask = Callable[[str], str]


def _unmasked(text: str) -> str:
    return text


def summary(pacts: Sequence[PactResult]) -> dict[str, int]:
    """How many interactions passed, failed and were skipped, over every pact."""
    return {result: sum(p.count(result) for p in pacts) for result in (PASSED, FAILED, SKIPPED)}


def table(pacts: Sequence[PactResult], mask: Mask = _unmasked) -> str:
    """Each pact, then a row per interaction (label, provider states, result, first reason),
    its other reasons and its notes on the lines under it."""
    blocks = []
    for pact in pacts:
        header = ("interaction", "provider states", "result", "reason")
        rows = [_row(item) for item in pact.interactions]
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
        lines = [
            f"{pact.pact.consumer} -> {pact.pact.provider} ({pact.pact.source or 'pact'}): "
            + _counts(pact),
            *(f"  note: {note}" for note in pact.notes),
            "",
            _line(header, widths),
            "  ".join("-" * width for width in widths) + "  ------",
        ]
        indent = " " * (sum(widths) + 2 * len(widths))
        for row, item in zip(rows, pact.interactions, strict=True):
            lines.append(_line(row, widths))
            more = item.reasons[1:]
            lines += [f"{indent}{reason}" for reason in more[:_MORE_REASONS]]
            if len(more) > _MORE_REASONS:
                left = len(more) - _MORE_REASONS
                lines.append(f"{indent}… and {left} more (the JSON and JUnit reports list all)")
            # A note the pact's own notes already say (no states set anywhere) is not repeated.
            lines += [f"{indent}note: {n}" for n in item.notes if n not in pact.notes]
        blocks.append("\n".join(mask(line) for line in lines))
    totals = summary(pacts)
    verdict = ", ".join(f"{count} {result}" for result, count in totals.items())
    blocks.append(f"{len(pacts)} pact{'s' if len(pacts) != 1 else ''}: {verdict}")
    return "\n\n".join(blocks)


def _row(item: InteractionResult) -> tuple[str, str, str, str]:
    states = ", ".join(state.name for state in item.interaction.provider_states) or "-"
    reasons = item.reasons
    return (
        _cut(item.interaction.label, _LABEL_CHARS),
        _cut(states, _STATES_CHARS),
        _MARKS.get(item.result, item.result),
        reasons[0] if reasons else "",
    )


def _line(row: tuple[str, ...], widths: list[int]) -> str:
    cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
    return "  ".join([*cells, *row[len(widths) :]]).rstrip()


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())  # a description's newlines would break the table
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _counts(pact: PactResult) -> str:
    return ", ".join(f"{pact.count(r)} {r}" for r in (PASSED, FAILED, SKIPPED))


def as_json(
    pacts: Sequence[PactResult], target: str, sandbox: bool, mask: Mask = _unmasked
) -> dict[str, Any]:
    """The JSON report (the shape in this module's docstring)."""
    return {
        "format": FORMAT,
        "target": target,
        "sandbox": sandbox,
        "summary": summary(pacts),
        "pacts": [
            {
                "source": mask(pact.pact.source),
                "consumer": mask(pact.pact.consumer),
                "provider": mask(pact.pact.provider),
                "notes": [mask(note) for note in pact.notes],
                "interactions": [_interaction(item, mask) for item in pact.interactions],
            }
            for pact in pacts
        ],
    }


def _interaction(item: InteractionResult, mask: Mask) -> dict[str, Any]:
    interaction = item.interaction
    return {
        "index": interaction.index,
        "description": mask(interaction.description),
        "story": interaction.story,
        "states": [mask(state.name) for state in interaction.provider_states],
        "result": item.result,
        "reason": mask(item.reason),
        "mismatches": [
            {"where": mask(m.where), "message": mask(m.message)} for m in item.mismatches
        ],
        "notes": [mask(note) for note in item.notes],
    }


def junit(pacts: Sequence[PactResult], mask: Mask = _unmasked) -> ElementTree.ElementTree:
    """JUnit XML: a testsuite per pact, a testcase per interaction; a failure holds every
    reason, a skipped case its reason, and the notes go to the case's system-out."""
    totals = summary(pacts)
    root = ElementTree.Element(
        "testsuites",
        name="billing-sandbox contract verify",
        tests=str(sum(totals.values())),
        failures=str(totals[FAILED]),
        skipped=str(totals[SKIPPED]),
        errors="0",
    )
    for pact in pacts:
        name = f"{pact.pact.consumer} -> {pact.pact.provider}"
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=mask(f"{name} ({pact.pact.source})" if pact.pact.source else name),
            tests=str(len(pact.interactions)),
            failures=str(pact.count(FAILED)),
            skipped=str(pact.count(SKIPPED)),
            errors="0",
        )
        for item in pact.interactions:
            _case(suite, mask(name), item, mask)
        if pact.notes:  # after the cases, where JUnit's schema puts a suite's output
            ElementTree.SubElement(suite, "system-out").text = mask("\n".join(pact.notes))
    ElementTree.indent(root)
    return ElementTree.ElementTree(root)


def _case(suite: ElementTree.Element, classname: str, item: InteractionResult, mask: Mask) -> None:
    case = ElementTree.SubElement(
        suite, "testcase", name=mask(item.interaction.label), classname=classname
    )
    reasons = [mask(reason) for reason in item.reasons]
    if item.result == FAILED:
        failure = ElementTree.SubElement(case, "failure", message=reasons[0] if reasons else "")
        failure.text = "\n".join(reasons)
    elif item.result == SKIPPED:
        ElementTree.SubElement(case, "skipped", message=reasons[0] if reasons else "")
    if item.notes:
        ElementTree.SubElement(case, "system-out").text = mask("\n".join(item.notes))


def write_junit(path: Path, pacts: Sequence[PactResult], mask: Mask = _unmasked) -> None:
    junit(pacts, mask).write(path, encoding="utf-8", xml_declaration=True)
