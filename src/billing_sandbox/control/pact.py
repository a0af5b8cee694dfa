"""A tenant's calls as consumer contracts: Pact v4 files, one per provider (an API's spec
name: `candid-write-offs`, `decoda-billing`, `mycure-billing-soas`), written from the journal.

Each vendor call the consumer made becomes an interaction: its request as sent, the answer as
the sandbox gave it, loosened by matching rules read from the spec (`pactrules.py`) so that ids,
dates and amounts are not pinned to what the sandbox generated. The scenarios applied to the
tenant before a call are its provider states; their own steps are not the consumer's calls and
are left out. A value a call sends that a scenario's named step answered (a charge the scenario
made) becomes a `ProviderState` generator, filled from the provider-state endpoint's answer when
the pact is verified in another tenant. The interactions of one tenant are one story
(`comments["billing-sandbox"]["story"]`): `billing-sandbox contract verify` replays a story in
order on one tenant, so a call may use what an earlier one created."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from billing_sandbox import __version__
from billing_sandbox.control import pactrules
from billing_sandbox.errors import NotFound
from billing_sandbox.observe.journal import Entry, Filter
from billing_sandbox.observe.stories import AppliedScenario
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.spec.document import Operation, Spec

PACT_SPECIFICATION = "4.0"
# Short values are too common to be taken for a scenario's record (`true`, `100`, `USD`).
_SHORTEST_STATE_VALUE = 6
_JSON = re.compile(r"^application/(?:[\w.+-]+\+)?json\b", re.IGNORECASE)


@dataclass
class _Story:
    """What is known while the tenant's entries are turned into interactions."""

    tenant: str
    interactions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    descriptions: dict[str, set[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pacts(sandbox: Sandbox, tenant: str, consumer: str) -> dict[str, dict[str, Any]]:
    """The tenant's pacts by provider name (only providers it called); raises NotFound when
    the journal holds no call of the tenant to write down."""
    story = _Story(tenant)
    operations = _operations(sandbox)
    forgotten_through = sandbox.stories.forgotten_through(tenant)
    unknown = 0
    for entry in _entries_of(sandbox, tenant):
        if entry.seq <= forgotten_through:
            unknown += 1
            continue
        if sandbox.stories.scenario_step(tenant, entry.seq):
            continue
        began, states = sandbox.stories.chapter(tenant, entry.seq)
        found = operations.get((entry.api, entry.operation_id))
        if found is None:
            continue
        spec, op = found
        if not op.secured:
            continue  # a sign-in: a verifier signs in with its own credentials
        if entry.fault is not None:
            story.notes.append(f"request {entry.seq} met a fault ({entry.fault}): left out")
            continue
        chapter = tenant if not began else f"{tenant}#{began}"  # a reset starts a new story
        interaction = _interaction(entry, spec, op, story, chapter, states)
        if interaction is not None:
            story.interactions.setdefault(spec.name, []).append(interaction)
    if unknown:
        story.notes.append(
            f"{unknown} earlier requests are left out: the sandbox keeps the latest scenarios "
            "applied to a tenant (100), and cannot tell which of those calls were steps of the "
            "ones it let go (reset the tenant between stories)"
        )
    dropped = sandbox.journal.dropped(tenant)
    if dropped:
        story.notes.append(
            f"the journal let {dropped} of this tenant's earlier requests go: the calls they "
            "were are not in these pacts"
        )
    if not story.interactions:
        missing = NotFound("tenant", tenant)
        missing.message = (
            f"the journal holds no vendor call of tenant {tenant!r} to write down as a pact "
            "(scenario steps and sign-ins are not the consumer's calls); "
            "GET /_sandbox/requests?tenant=… lists what it holds"
        )
        raise missing
    return {
        provider: _pact(consumer, provider, interactions, story.notes)
        for provider, interactions in story.interactions.items()
    }


def _pact(
    consumer: str, provider: str, interactions: list[dict[str, Any]], notes: list[str]
) -> dict[str, Any]:
    return {
        "consumer": {"name": consumer},
        "provider": {"name": provider},
        "interactions": interactions,
        "metadata": {
            "pactSpecification": {"version": PACT_SPECIFICATION},
            "billing-sandbox": {"version": __version__, "notes": notes},
        },
    }


def _interaction(
    entry: Entry,
    spec: Spec,
    op: Operation,
    story: _Story,
    chapter: str,
    states: list[AppliedScenario],
) -> dict[str, Any] | None:
    at = f"request {entry.seq} ({entry.method} {entry.path})"
    if entry.truncated[0]:
        story.notes.append(f"{at}: left out, the journal kept only part of its body")
        return None
    request: dict[str, Any] = {"method": entry.method, "path": entry.path}
    query = _query(entry.query)
    if query:
        request["query"] = query
    sent = _json(entry.request_body)
    if entry.request_body:
        if sent is _NOT_JSON:
            story.notes.append(f"{at}: left out, its body is not JSON")
            return None
        request["headers"] = {"Content-Type": "application/json"}
        request["body"] = _body(sent)
    generators = _generators(request, sent, states)
    if generators:
        request["generators"] = generators
    response: dict[str, Any] = {"status": entry.status}
    answer = _json(entry.response_body)
    if entry.truncated[1]:
        story.notes.append(f"{at}: its answer was cut in the journal, so no body is expected")
    elif entry.response_body and answer is not _NOT_JSON:
        schema = _response_schema(spec, op, entry.status)
        body, rules = pactrules.expected_body(schema, answer, spec.document)
        response["headers"] = {"Content-Type": "application/json"}
        response["body"] = _body(body)
        response["matchingRules"] = {
            "body": rules,
            "header": {"Content-Type": {"combine": "AND", "matchers": [_CONTENT_TYPE]}},
        }
    return {
        "type": "Synchronous/HTTP",
        "description": _description(entry, op, spec.name, story),
        "providerStates": [{"name": a.name, "params": {}} for a in states],
        "request": request,
        "response": response,
        "comments": {
            "text": [f"recorded by billing-sandbox from tenant {story.tenant!r}"],
            "billing-sandbox": {"story": chapter, "operationId": op.operation_id},
        },
    }


_CONTENT_TYPE = {"match": "regex", "regex": r"^application/json\b.*"}
_NOT_JSON = object()


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _body(content: Any) -> dict[str, Any]:
    return {"content": content, "contentType": "application/json", "encoded": False}


def _query(query: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        found.setdefault(name, []).append(value)
    return found


def _description(entry: Entry, op: Operation, provider: str, story: _Story) -> str:
    """Unique within its pact: Pact tools tell interactions apart by description and states."""
    base = f"{op.operation_id}: {entry.method} {entry.path} → {entry.status}"
    taken = story.descriptions.setdefault(provider, set())
    description, n = base, 1
    while description in taken:
        n += 1
        description = f"{base} (#{n})"
    taken.add(description)
    return description


def _generators(
    request: dict[str, Any], sent: Any, states: list[AppliedScenario]
) -> dict[str, Any]:
    """`ProviderState` generators for each value the request sends that a scenario's named
    step answered: in another tenant, the provider-state endpoint answers that step's value
    under the same name, and the verifier puts it in place of the recorded one."""
    by_value: dict[str, str] = {}
    for applied in states:
        for name, value in applied.values.items():
            if not isinstance(value, str) or len(value) < _SHORTEST_STATE_VALUE:
                continue
            # The plainest name for it (`copay.id`, not `copay.items.0.chargeId`).
            if value not in by_value or name.count(".") < by_value[value].count("."):
                by_value[value] = name
    if not by_value:
        return {}
    generators: dict[str, Any] = {}
    segments = request["path"].split("/")
    named = [f"${{{by_value[s]}}}" if s in by_value else s for s in segments]
    if named != segments:
        generators["path"] = _generator("/".join(named))
    query = {
        name: _generator(f"${{{by_value[values[0]]}}}")
        for name, values in request.get("query", {}).items()
        if len(values) == 1 and values[0] in by_value
    }
    if query:
        generators["query"] = query
    body = {
        path: _generator(f"${{{by_value[v]}}}") for path, v in _strings(sent, "$") if v in by_value
    }
    if body:
        generators["body"] = body
    return generators


def _generator(expression: str) -> dict[str, Any]:
    return {"type": "ProviderState", "expression": expression, "dataType": "STRING"}


def _strings(node: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        return [
            found
            for key, value in node.items()
            for found in _strings(value, pactrules.child_path(path, key))
        ]
    if isinstance(node, list):
        return [found for i, value in enumerate(node) for found in _strings(value, f"{path}[{i}]")]
    return []


def _response_schema(spec: Spec, op: Operation, status: int) -> dict[str, Any] | None:
    responses = spec.document["paths"][op.path][op.method.lower()].get("responses", {})
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
    if not isinstance(response, dict):
        return None
    response = pactrules.resolved(response, spec.document)
    for media, content in (response.get("content") or {}).items():
        if _JSON.match(media) and isinstance(content, dict):
            schema = content.get("schema")
            return schema if isinstance(schema, dict) else None
    return None


def _operations(sandbox: Sandbox) -> dict[tuple[str, str], tuple[Spec, Operation]]:
    return {
        (name, op.operation_id): (spec, op)
        for name in sandbox.kinds
        if (spec := sandbox.api_spec(name)) is not None
        for op in spec.operations
    }


def _entries_of(sandbox: Sandbox, tenant: str) -> list[Entry]:
    journal = sandbox.journal
    newest_first, _ = journal.find(Filter(tenant=tenant), len(journal) + 1)
    return newest_first[::-1]
