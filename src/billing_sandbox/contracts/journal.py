"""Pacts made from the sandbox's request journal (what `GET /_sandbox/requests` answers), so that
`contract check --journal FILE` can ask of calls a consumer really made which of them break
under a spec, without a pact file.

A journal keeps no headers, cuts bodies past `journal_body_bytes` and may record calls that met
a fault; what it cannot tell is said in the pact's `skipped` notes, never guessed."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson

from billing_sandbox.contracts.model import Interaction, Pact, PactInvalid, Request, Response

# What the journal writes at the end of a body it cut (observe/journal.py).
_CUT_MARKER = re.compile(r"… \[(\d+) more bytes\]\Z")
# Problems listed before the rest are counted: a wrong file should not print a thousand lines.
MAX_PROBLEMS = 20
CONSUMER = "journal"
SPECIFICATION = "4.0"  # the model the interactions follow; a journal declares no version


class CutBody(str):
    """A body the journal cut short: the text it kept. It stands for a body that was sent or
    answered but is not known in full, so `contract check` leaves it unchecked."""

    __slots__ = ()


def pact_from_journal(document: Any, source: str) -> Pact:
    """The journal's requests to one API as a pact, oldest first. A journal of several APIs is
    refused: each is checked against its own spec (`pacts_from_journal`)."""
    pacts = pacts_from_journal(document, source)
    if len(pacts) > 1:
        names = ", ".join(pact.provider for pact in pacts)
        raise PactInvalid(
            source,
            [f"requests: holds requests to several APIs ({names}): check each against its spec"],
        )
    return pacts[0]


def pacts_from_journal(document: Any, source: str) -> list[Pact]:
    """One pact per API in the journal (provider: the API's spec name, such as
    `decoda-billing`), in the order the APIs first appear; interactions oldest first."""
    entries = _entries(document, source)
    problems: list[str] = []
    readable = []
    for place, entry in entries:
        found = _problems(place, entry)
        problems += found
        if not found:
            readable.append(entry)
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"and {len(problems) - MAX_PROBLEMS} more problems")
        raise PactInvalid(source, shown)
    if not readable:
        raise PactInvalid(source, ["requests: the journal holds no requests"])
    if all(isinstance(entry.get("seq"), int) for entry in readable):
        readable.sort(key=lambda entry: int(entry["seq"]))
    else:
        readable.reverse()  # the journal answers newest first
    by_api: dict[str, list[dict[str, Any]]] = {}
    for entry in readable:
        by_api.setdefault(entry["api"], []).append(entry)
    return [_pact(api, listed, source) for api, listed in by_api.items()]


def _entries(document: Any, source: str) -> list[tuple[str, Any]]:
    """The journal's entries, each with where it is in the document: a page as the control
    API answers it (`{requests, nextBefore}`), or the bare list of its requests."""
    if isinstance(document, dict) and "requests" in document:
        listed, name = document["requests"], "requests"
    elif isinstance(document, list):
        listed, name = document, ""
    else:
        raise PactInvalid(
            source,
            [
                "not a journal: expected what GET /_sandbox/requests answers "
                "(an object with `requests`, or a list of requests)"
            ],
        )
    if not isinstance(listed, list):
        raise PactInvalid(source, [f"{name}: must be a list, got {_kind(listed)}"])
    return [(f"{name}[{index}]", entry) for index, entry in enumerate(listed)]


def _problems(place: str, entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{place}: must be an object, got {_kind(entry)}"]
    problems = []
    api = entry.get("api")
    if not isinstance(api, str):
        problems.append(f"{place}.api: must be a string, got {_kind(api)}")
    elif api not in _providers():
        known = ", ".join(sorted(_providers()))
        problems.append(f"{place}.api: {api!r} is not an API the sandbox serves ({known})")
    for name in ("method", "path"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            problems.append(
                f"{place}.{name}: must be a non-empty string, got {_kind(entry.get(name))}"
            )
    if isinstance(entry.get("path"), str) and not entry["path"].startswith("/"):
        problems.append(f"{place}.path: must start with /, got {entry['path']!r}")
    status = entry.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 0 <= status <= 599:
        problems.append(f"{place}.status: must be an integer from 0 to 599, got {_kind(status)}")
    for name in ("query", "requestBody", "responseBody"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            problems.append(f"{place}.{name}: must be a string, got {_kind(entry[name])}")
    for name in ("tenant", "fault"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            problems.append(f"{place}.{name}: must be a string or null, got {_kind(entry[name])}")
    return problems


def _pact(api: str, entries: list[dict[str, Any]], source: str) -> Pact:
    interactions: list[Interaction] = []
    notes: list[str] = []
    for entry in entries:
        call = f"{entry['method'].upper()} {entry['path']}"
        seq = f" (journal seq {entry['seq']})" if isinstance(entry.get("seq"), int) else ""
        if entry["status"] == 0:
            notes.append(f"{call}{seq}: no status reached the client (a fault): left out")
            continue
        if entry.get("fault"):
            # The answer was the fault's (or, after commit, one the client never got): not
            # something the consumer and the provider agreed on.
            notes.append(f"{call}{seq}: met a fault ({entry['fault']}): left out")
            continue
        index = len(interactions)
        description = f"{call} → {entry['status']}"
        request_body, request_cut = _body(entry.get("requestBody"))
        response_body, response_cut = _body(entry.get("responseBody"))
        for part, cut in (("request", request_cut), ("response", response_cut)):
            if cut:
                notes.append(
                    f"#{index + 1} {description}: the journal cut its {part} body ({cut} more "
                    "bytes), so that body is not checked"
                )
        query = parse_qs(entry.get("query") or "", keep_blank_values=True)
        interactions.append(
            Interaction(
                index=index,
                description=description,
                provider_states=(),
                request=Request(
                    method=entry["method"].upper(),
                    path=entry["path"],
                    query=query,
                    body=request_body,
                    has_body=request_body is not None,
                ),
                response=Response(
                    status=entry["status"],
                    body=response_body,
                    has_body=response_body is not None,
                ),
                story=entry.get("tenant"),
            )
        )
    return Pact(
        consumer=CONSUMER,
        provider=_providers()[api],
        specification=SPECIFICATION,
        interactions=tuple(interactions),
        source=source,
        skipped=tuple(notes),
    )


def _body(text: str | None) -> tuple[Any, int]:
    """A journal body as the pact's: parsed JSON, text when it is not JSON, a `CutBody` when the
    journal cut it (with how many bytes it left out), None when there was none."""
    if not text:
        return None, 0
    cut = _CUT_MARKER.search(text)
    if cut is not None:
        return CutBody(text[: cut.start()]), int(cut.group(1))
    try:
        return orjson.loads(text), 0
    except orjson.JSONDecodeError:
        return text, 0


@cache
def _providers() -> dict[str, str]:
    """API name → provider name (its spec's stem: `decoda` → `decoda-billing`), from the
    served APIs' own descriptors. Imported on first use: the APIs bring their stores along."""
    from billing_sandbox.apis import VENDOR_APIS  # costly, and needed only here

    return {api.name: Path(api.spec_file).stem for api in VENDOR_APIS}


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"  # absent or null: the journal writes neither for a field it has
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list"}.get(
        type(value), "an object"
    )
