"""Verifying a pact: each interaction replayed against a server (a sandbox, or a vendor's) and
its answer compared with what the consumer expects, by the pact's matching rules.

On a sandbox, the tenant the credentials name is reset and given each interaction's provider
states (the sandbox's provider-state endpoint applies the scenario pack of that name), as Pact
verifiers do with a provider's state-change URL. A story (interactions a sandbox recorded on
one tenant, in order) is set up once and replayed whole, each later request carrying the ids
this run's answers made. Anything else is a vendor's server: no state can be set there, and
only reads are sent unless writes are allowed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from billing_sandbox.contracts.matching import Mismatch, response_mismatches
from billing_sandbox.contracts.model import Interaction, Pact, ProviderState, Response
from billing_sandbox.contracts.reading import is_json_media_type
from billing_sandbox.contracts.replay import (
    CannotPrepare,
    PreparedRequest,
    Signing,
    learn,
    prepare,
    substituted,
)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Methods that change nothing, the only ones sent to a vendor's server without --allow-writes.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_TIMEOUT_SECONDS = 10.0
# The most of one answer read: a pact's answer is an example, not a bulk export; past this the
# answer fails the interaction rather than filling memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# What a mismatch that is not about the answer is said to be about.
WHERE_REQUEST = "request"
WHERE_STATE = "provider state"
SKIPPED_WRITE = "writes need --allow-writes"
# How many of the sandbox's known states an "unknown state" failure names.
_NAMED_STATES = 12


class CannotVerify(Exception):
    """The run cannot go on (exit 2): nothing answers at the URL, or the sandbox refuses the
    control calls."""


@dataclass(frozen=True)
class Target:
    """Where interactions are replayed, and how.

    `tenant`: on a sandbox, the tenant the credentials name (reset and given the provider
    states); None when they name none (a ready token), and then no state is set.
    """

    base_url: str
    signing: Signing
    sandbox: bool
    tenant: str | None = None
    control_token: str = field(default="", repr=False)
    allow_writes: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_answer_bytes: int = MAX_ANSWER_BYTES

    @property
    def sets_states(self) -> bool:
        return self.sandbox and self.tenant is not None

    def why_no_states(self) -> str:
        if not self.sandbox:
            return f"{self.base_url} is not a billing-sandbox (no provider-state endpoint)"
        return "the credentials name no tenant (a ready token): give the client id or email"


@dataclass(frozen=True)
class InteractionResult:
    """What became of one interaction: passed, failed (each reason a mismatch: of the answer,
    of the request that could not be sent, or of a state that could not be set) or skipped
    (`reason`). `notes` say what was done differently from the pact (states not set,
    generators not run)."""

    interaction: Interaction
    result: str
    mismatches: tuple[Mismatch, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """Why it failed, or was skipped: a line each."""
        if self.result == SKIPPED:
            return [self.reason]
        return [f"{m.where}: {m.message}" if m.where else m.message for m in self.mismatches]


@dataclass(frozen=True)
class PactResult:
    pact: Pact
    interactions: tuple[InteractionResult, ...]
    notes: tuple[str, ...] = ()

    def count(self, result: str) -> int:
        return sum(1 for item in self.interactions if item.result == result)


@dataclass(frozen=True)
class Answer:
    """An answer as the matching reads it."""

    status: int
    headers: dict[str, str]
    body: Any
    has_body: bool


class _NoAnswer(Exception):
    """A request got no whole answer: the reason."""


def probe(
    client: httpx.Client, base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> tuple[str, ...] | None:
    """The APIs the sandbox at `base_url` serves, or None when it is not a sandbox (anything
    that does not answer `GET /_sandbox/health` as one does). Raises CannotVerify when nothing
    answers at all. No credentials go with it: it may be a vendor's server."""
    try:
        answer = _send(client, "GET", base_url + "/_sandbox/health", 64 * 1024, timeout)
    except _NoAnswer as problem:
        raise CannotVerify(f"nothing answers at {base_url} ({problem})") from None
    body = answer.body
    if answer.status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        return None
    apis = body.get("apis")
    if not isinstance(apis, list) or not all(isinstance(api, str) for api in apis):
        return None
    return tuple(apis)


def verify_pact(pact: Pact, target: Target, client: httpx.Client) -> PactResult:
    """Replay every interaction of `pact` against `target`, a story or a lone one at a time."""
    control = _Control(client, target)
    results: list[InteractionResult] = []
    for group in stories(pact.interactions):
        results += _verify_group(group, target, client, control)
    notes = [f"left out: {said}" for said in pact.skipped]
    if not target.sets_states and any(i.provider_states for i in pact.interactions):
        notes.append(f"provider states not set: {target.why_no_states()}")
    return PactResult(pact, tuple(results), tuple(notes))


def stories(interactions: Sequence[Interaction]) -> Iterator[list[Interaction]]:
    """The interactions in replay groups: consecutive ones of the same story together, every
    one without a story alone."""
    group: list[Interaction] = []
    for interaction in interactions:
        if group and (interaction.story is None or interaction.story != group[0].story):
            yield group
            group = []
        group.append(interaction)
    if group:
        yield group


def _verify_group(
    group: list[Interaction], target: Target, client: httpx.Client, control: _Control
) -> list[InteractionResult]:
    first = group[0]
    states = first.provider_states
    values: dict[str, Any] | None = None
    if target.sets_states:
        try:
            control.reset()
            values = control.setup(states)
        except _StateFailed as failure:
            mismatch = Mismatch(WHERE_STATE, str(failure))
            return [InteractionResult(i, FAILED, (mismatch,)) for i in group]
    story = first.story is not None
    learnt: dict[str, str] = {}
    results: list[InteractionResult] = []
    for position, interaction in enumerate(group):
        notes: list[str] = []
        if not target.sets_states and interaction.provider_states:
            notes.append(f"provider states not set: {target.why_no_states()}")
        elif position and interaction.provider_states and interaction.provider_states != states:
            notes.append("its own provider states not set: it continues its story's")
        if story and any(r.result == SKIPPED for r in results):
            notes.append("an earlier interaction of its story was not sent")
        results.append(
            _verify_one(interaction, target, client, learnt if story else None, values, notes)
        )
    if target.sets_states and states:
        problem = control.teardown(states)
        if problem:
            last = results[-1]
            results[-1] = dataclasses.replace(last, notes=(*last.notes, problem))
    return results


def _verify_one(
    interaction: Interaction,
    target: Target,
    client: httpx.Client,
    learnt: dict[str, str] | None,
    values: Mapping[str, Any] | None,
    notes: list[str],
) -> InteractionResult:
    """Send one interaction and judge its answer; `learnt` (a story's) gains what it taught."""
    method = interaction.request.method
    if not target.sandbox and not target.allow_writes and method not in READ_METHODS:
        return InteractionResult(interaction, SKIPPED, reason=SKIPPED_WRITE, notes=tuple(notes))
    try:
        request = prepare(interaction, target.signing, learnt or {}, values)
    except CannotPrepare as problem:
        mismatch = Mismatch(WHERE_REQUEST, str(problem))
        return InteractionResult(interaction, FAILED, (mismatch,), notes=tuple(notes))
    notes += request.notes
    try:
        answer = _send_prepared(client, target, request)
    except _NoAnswer as problem:
        mismatch = Mismatch(WHERE_REQUEST, f"{method} {request.path}: {problem}")
        return InteractionResult(interaction, FAILED, (mismatch,), notes=tuple(notes))
    recorded = interaction.response
    expected = _with_learnt(recorded, learnt) if learnt else recorded
    mismatches = response_mismatches(
        expected, answer.status, answer.headers, answer.body, answer.has_body
    )
    if learnt is not None and answer.status == recorded.status:
        learn(recorded.body, answer.body, learnt)
    result = FAILED if mismatches else PASSED
    return InteractionResult(interaction, result, tuple(mismatches), notes=tuple(notes))


def _with_learnt(response: Response, learnt: Mapping[str, str]) -> Response:
    """The expected answer with this run's ids in place of the recorded ones: a story's later
    answer holds what its earlier ones made (the charge it fetches is the one just created)."""
    return dataclasses.replace(
        response,
        body=substituted(response.body, learnt),
        headers=substituted(response.headers, learnt),
    )


# ---------------------------------------------------------------------------------------------
# The wire


def _send_prepared(client: httpx.Client, target: Target, request: PreparedRequest) -> Answer:
    return _send(
        client,
        request.method,
        target.base_url + request.path,
        target.max_answer_bytes,
        target.timeout_seconds,
        query=request.query,
        headers=request.headers,
        content=request.content,
    )


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    max_bytes: int,
    timeout: float,
    *,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    json_body: Any = None,
) -> Answer:
    """One request, its answer read up to `max_bytes` within `timeout` seconds for each step
    (connecting, each read); _NoAnswer says why there is none."""
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers = {**(headers or {}), "Content-Type": "application/json"}
    try:
        with client.stream(
            method,
            url,
            params=list(query),
            headers=dict(headers or {}),
            content=content,
            timeout=timeout,
        ) as response:
            raw = bytearray()
            for chunk in response.iter_bytes():
                raw += chunk
                if len(raw) > max_bytes:
                    raise _NoAnswer(f"the answer is larger than {max_bytes} bytes; not read")
    except httpx.TimeoutException:
        raise _NoAnswer(f"no answer within {timeout:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError) as error:
        raise _NoAnswer(f"{type(error).__name__}: {error}") from None
    names = {name.lower() for name in response.headers}
    answered = {name: ", ".join(response.headers.get_list(name)) for name in names}
    content_type = response.headers.get("content-type", "")
    return Answer(
        status=response.status_code,
        headers=answered,
        body=_parsed(bytes(raw), content_type),
        has_body=bool(raw),
    )


def _parsed(raw: bytes, content_type: str) -> Any:
    """A body as the pact holds one: parsed JSON when it is JSON, else text."""
    text = raw.decode("utf-8", errors="replace")
    if raw and (is_json_media_type(content_type) or not content_type):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text


# ---------------------------------------------------------------------------------------------
# The sandbox's control API


class _StateFailed(Exception):
    """A provider state could not be set: why, for the results of the interactions it was
    for."""


class _Control:
    """Resets and provider states of the tenant under test, through the sandbox's control API
    (with the control token, when there is one)."""

    def __init__(self, client: httpx.Client, target: Target) -> None:
        self.client = client
        self.target = target
        tenant = quote(target.tenant or "", safe="")
        self.tenant_url = f"{target.base_url}/_sandbox/tenants/{tenant}"

    def reset(self) -> None:
        status, body = self._call("/reset", None, "reset the tenant")
        if status != 200:
            raise _StateFailed(f"resetting tenant {self.target.tenant!r} answered {status}: "
                               f"{_said(body)}")  # fmt: skip

    def setup(self, states: Sequence[ProviderState]) -> dict[str, Any]:
        """Set each state up; the values their answers hold, for ProviderState generators."""
        values: dict[str, Any] = {}
        for state in states:
            status, body = self._call("/provider-states", _change(state, "setup"), state.name)
            if status == 200:
                values.update(body if isinstance(body, dict) else {})
            elif (
                status == 404 and isinstance(body, dict) and body.get("error") == "UnknownScenario"
            ):
                known = [str(name) for name in body.get("available") or []]
                shown = ", ".join(known[:_NAMED_STATES]) + (
                    ", …" if len(known) > _NAMED_STATES else ""
                )
                raise _StateFailed(
                    f"{state.name!r} is no state this sandbox knows (it knows: {shown or 'none'})"
                )
            else:
                raise _StateFailed(f"setting up {state.name!r} answered {status}: {_said(body)}")
        return values

    def teardown(self, states: Sequence[ProviderState]) -> str:
        """Tear each state down; what went wrong, if anything (a note: the results stand)."""
        for state in states:
            try:
                status, body = self._call(
                    "/provider-states", _change(state, "teardown"), state.name
                )
            except _StateFailed as problem:
                return str(problem)
            if status != 200:
                return f"tearing down {state.name!r} answered {status}: {_said(body)}"
        return ""

    def _call(self, path: str, body: Any, what: str) -> tuple[int, Any]:
        token = self.target.control_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = _send(
                self.client,
                "POST",
                self.tenant_url + path,
                self.target.max_answer_bytes,
                self.target.timeout_seconds,
                headers=headers,
                json_body=body,
            )
        except _NoAnswer as problem:
            raise _StateFailed(f"{what}: the sandbox did not answer ({problem})") from None
        if answer.status in (401, 403):
            # Not this interaction's problem: no control call will get through.
            raise CannotVerify(
                f"the sandbox at {self.target.base_url} refused a control call "
                f"({answer.status}: {_said(answer.body)}); give its control token with "
                "--control-token or BILLING_SANDBOX_CONTROL_TOKEN"
            )
        return answer.status, answer.body


def _change(state: ProviderState, action: str) -> dict[str, Any]:
    """Pact's state-change body."""
    return {"state": state.name, "params": state.params, "action": action}


def _said(body: Any) -> str:
    """What an error answer of the control API says."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return (body if isinstance(body, str) else json.dumps(body))[:300]
