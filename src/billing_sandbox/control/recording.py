"""A tenant's writes, recorded as a scenario: the journal's successful vendor calls that changed
the tenant, oldest first, each id an earlier call's answer returned replaced with a reference
to that call (`${s3.id}`), so that the scenario rebuilds the same records in a fresh tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
import yaml

from billing_sandbox.errors import NotFound, counted
from billing_sandbox.observe.journal import Entry, Filter
from billing_sandbox.observe.redaction import REDACTED
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation

# A field that names a record: `id`, `_id`, `uid`, `patientId`, `write_off_id`, `chargeIds`.
_ID_FIELD = re.compile(r"(?:^_?u?id$|[a-z0-9]Ids?$|_ids?$|ID$)")
# What a reference may walk through: a field named like an identifier (the scenario format's).
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A scenario's name: lower-case letters, digits and `-`.
_NAME = re.compile(r"[a-z0-9-]+")
# A text holding `${` would be read as a template: `$${` writes it as it is.
_TEMPLATE = "${"


@dataclass
class _Step:
    """One recorded call on its way to being a step."""

    api: str
    method: str
    path: list[str]  # its segments
    query: dict[str, Any] | None
    body: Any
    has_body: bool
    answer: Any = None
    name: str | None = None


@dataclass
class _Recording:
    tenant: str
    steps: list[_Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    redacted: list[str] = field(default_factory=list)
    skipped: int = 0


def record(sandbox: Sandbox, tenant: str) -> dict[str, Any]:
    """The recording of `tenant` as the control API answers it: the scenario, how many of the
    journal's calls it holds, whether it may miss some, and notes saying why."""
    made = _Recording(tenant)
    operations = _operations(sandbox)
    for entry in _entries_of(sandbox, tenant):
        op = operations.get((entry.api, entry.operation_id))
        if op is None or not op.changes_state or not op.secured:
            continue  # a read, or a sign-in (whoever applies the scenario signs in itself)
        if not 200 <= entry.status < 300 or not _carried_out(entry.fault):
            continue
        step = _step(entry, op, made)
        if step is not None:
            made.steps.append(step)
    _refer(made.steps)
    dropped = sandbox.journal.dropped(tenant)
    if not made.steps:
        missing = NotFound("tenant", tenant)
        missing.message = (
            f"the journal holds no write of tenant {tenant!r} to record"
            + (f" ({dropped} of its requests fell out of it)" if dropped else "")
            + "; GET /_sandbox/requests?tenant=… lists what it holds"
        )
        raise missing
    scenario = _scenario(made)  # (notes which secrets it holds redacted, and a renaming)
    if dropped:
        made.notes.insert(
            0,
            f"the journal let {dropped} of this tenant's earlier requests go (it keeps the "
            f"latest {sandbox.settings.journal_size}): writes made before them are not in "
            "this recording",
        )
    made.notes.extend(_clock_notes(sandbox, tenant))
    if "mycure" in scenario["apis"]:
        made.notes.append(
            "a scenario signs in to MYCURE as scenario@<its tenant>: the statements it rebuilds "
            "are stamped createdBy and finalizedBy with that account, whoever made them here"
        )
    made.notes.append(
        "only vendor calls are journaled: control calls (the clock, fault rules, Decoda's "
        "failed payments, voids and triggered events) are not in this recording"
    )
    made.notes.append(
        "secrets are redacted in the journal: a value sent as a password, token, API key or "
        f"secret is {REDACTED!r} here"
        + (f" ({', '.join(made.redacted)})" if made.redacted else " (none was sent)")
    )
    return {
        "tenant": tenant,
        "scenario": scenario,
        "calls": len(made.steps),
        "complete": not dropped and not made.skipped,
        "droppedRequests": dropped,
        "notes": made.notes,
    }


def as_yaml(recording: dict[str, Any]) -> str:
    """The scenario as a YAML file, the recording's notes as comments at its top."""
    lines = [f"# Recorded from tenant {recording['tenant']} by billing-sandbox."]
    if not recording["complete"]:
        lines.append("# INCOMPLETE: see the notes below.")
    lines += [f"# - {note}" for note in recording["notes"]]
    text = yaml.safe_dump(recording["scenario"], sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + text


def _clock_notes(sandbox: Sandbox, tenant: str) -> list[str]:
    """What the tenant's clock says now, when it is not the server's: clock changes are
    control calls, which the journal does not keep."""
    held = sandbox.held(tenant)
    if held is None:
        return []
    clock = held.clock
    if clock.frozen_at is not None:
        state = f"frozen at {clock.frozen_at.isoformat()}"
    elif clock.offset:
        state = f"{clock.offset.total_seconds():+.0f} s from the server's"
    else:
        return []
    return [
        f"the tenant's clock is {state}, and the recording does not set it (the journal keeps "
        "no clock changes): add `clock` steps where the story needs them"
    ]


# ---- reading the journal ---------------------------------------------------------------


def _operations(sandbox: Sandbox) -> dict[tuple[str, str], Operation]:
    return {
        (name, op.operation_id): op
        for name in sandbox.kinds
        if (spec := sandbox.api_spec(name)) is not None
        for op in spec.operations
    }


def _entries_of(sandbox: Sandbox, tenant: str) -> list[Entry]:
    """The tenant's entries, oldest first."""
    journal = sandbox.journal
    newest_first, _ = journal.find(Filter(tenant=tenant), len(journal) + 1)
    return newest_first[::-1]


def _carried_out(fault: str | None) -> bool:
    """Whether a call met no fault that answered in the sandbox's place: a wait, or an answer
    lost after the call was carried out, still carried it out; a malformed 2xx did not."""
    return fault is None or "after commit" in fault or "malformed" not in fault


def _step(entry: Entry, op: Operation, made: _Recording) -> _Step | None:
    at = f"the {entry.method} {entry.path} of request {entry.seq}"
    request_cut, answer_cut = entry.truncated
    if request_cut:
        made.skipped += 1
        made.notes.append(
            f"{at} is left out: the journal kept only part of its body "
            "(raise BILLING_SANDBOX_JOURNAL_BODY_BYTES to keep whole bodies)"
        )
        return None
    has_body = bool(entry.request_body)
    body: Any = None
    if has_body:
        try:
            body = orjson.loads(entry.request_body)
        except orjson.JSONDecodeError:
            made.skipped += 1
            made.notes.append(f"{at} is left out: its body is not JSON")
            return None
    answer: Any = None
    if answer_cut:
        made.notes.append(
            f"the answer to {at} was cut in the journal: ids it returned stay literal in the "
            "later steps (they hold in a fresh tenant of the same name and seed)"
        )
    else:
        try:
            answer = orjson.loads(entry.response_body) if entry.response_body else None
        except orjson.JSONDecodeError:
            answer = None
    return _Step(
        api=entry.api,
        method=entry.method,
        path=entry.path.split("/"),
        query=_query(entry.query, op),
        body=body,
        has_body=has_body,
        answer=answer,
    )


def _query(text: str, op: Operation) -> dict[str, Any] | None:
    """The query as typed values: numbers and booleans as the spec declares them, a repeated
    parameter as a list."""
    if not text:
        return None
    found: dict[str, Any] = {}
    declared = op.query_by_name
    for name, raw in parse_qsl(text, keep_blank_values=True):
        param = declared.get(name)
        value = _typed(raw, param.schema if param is not None else {})
        if name in found:
            kept = found[name]
            found[name] = [*kept, value] if isinstance(kept, list) else [kept, value]
        elif param is not None and param.is_array:
            found[name] = [value]
        else:
            found[name] = value
    return found


def _typed(raw: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        kind = schema.get("items", {}).get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


# ---- references --------------------------------------------------------------------------


def _refer(steps: list[_Step]) -> None:
    """Replace each id a step sends that an earlier step's answer returned first (not sent
    before it) with a reference to that answer, naming the steps referred to."""
    known: dict[str, tuple[int, str]] = {}  # id -> (step index, path in its answer)
    sent: set[str] = set()
    for index, step in enumerate(steps):
        sent.update(step.path)
        step.path = [_swap(segment, known, steps) for segment in step.path]
        if step.query is not None:
            step.query = _rewrite(step.query, known, steps, sent)
        if step.has_body:
            step.body = _rewrite(step.body, known, steps, sent)
        for value, where in _ids(step.answer, ""):
            if value not in sent and value not in known:
                known[value] = (index, where)


def _swap(text: str, known: dict[str, tuple[int, str]], steps: list[_Step]) -> str:
    """A string as a step sends it: a reference when an earlier answer returned it."""
    if text in known:
        index, where = known[text]
        source = steps[index]
        source.name = source.name or f"s{index + 1}"
        return "${" + source.name + where + "}"
    return text.replace(_TEMPLATE, "$" + _TEMPLATE)


def _rewrite(
    value: Any, known: dict[str, tuple[int, str]], steps: list[_Step], sent: set[str]
) -> Any:
    if isinstance(value, str):
        sent.add(value)
        return _swap(value, known, steps)
    if isinstance(value, list):
        return [_rewrite(item, known, steps, sent) for item in value]
    if isinstance(value, dict):
        return {
            key.replace(_TEMPLATE, "$" + _TEMPLATE): _rewrite(item, known, steps, sent)
            for key, item in value.items()
        }
    return value


def _ids(answer: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string an answer holds under a field that names a record, with its path
    (`.write_offs[0].write_off_id`), the shallowest first."""
    level: list[tuple[Any, str, bool]] = [(answer, where, False)]
    while level:
        deeper: list[tuple[Any, str, bool]] = []
        for value, path, named in level:
            if isinstance(value, str):
                if named:
                    yield value, path
            elif isinstance(value, list):
                deeper += [(item, f"{path}[{i}]", named) for i, item in enumerate(value)]
            elif isinstance(value, dict):
                deeper += [
                    (item, f"{path}.{key}", bool(_ID_FIELD.search(key)))
                    for key, item in value.items()
                    if _FIELD.fullmatch(key)
                ]
        level = deeper


# ---- the scenario ------------------------------------------------------------------------


def _scenario(made: _Recording) -> dict[str, Any]:
    tenant = made.tenant
    apis = sorted({step.api for step in made.steps})
    name = tenant if _NAME.fullmatch(tenant) else _slug(tenant)
    if name != tenant:
        made.notes.append(
            f"a scenario's name is lower-case letters, digits and '-': this one is {name!r}; "
            f"apply it to tenant {tenant!r} (serve --scenario FILE@{tenant}) to rebuild it"
        )
    scenario: dict[str, Any] = {
        "scenario": 1,
        "name": name,
        "description": (
            f"The writes tenant {tenant} received, as the sandbox's journal kept them "
            f"({counted(len(made.steps), 'call')})."
        ),
        "apis": apis,
        "steps": [_as_json(step, len(apis) > 1, made) for step in made.steps],
    }
    return scenario


def _slug(tenant: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", tenant.lower()).strip("-") or "recorded"


def _as_json(step: _Step, name_api: bool, made: _Recording) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if step.name is not None:
        shown["name"] = step.name
    shown["call"] = f"{step.method} {'/'.join(step.path)}"
    if name_api:
        shown["api"] = step.api
    if step.query is not None:
        shown["query"] = step.query
    if step.has_body:
        shown["body"] = step.body
    for where in _redacted(shown.get("query"), "query") + _redacted(shown.get("body"), "body"):
        made.redacted.append(f"{shown['call']}: {where}")
    return shown


def _redacted(value: Any, where: str) -> list[str]:
    if value == REDACTED:
        return [where]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _redacted(item, f"{where}[{i}]")]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _redacted(item, f"{where}.{key}")]
    return []
