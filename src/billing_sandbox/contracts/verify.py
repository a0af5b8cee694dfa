"""Verifying a pact: each interaction replayed against a server (a sandbox, or a vendor's) and
its answer compared with what the consumer expects, by the pact's matching rules.

On a sandbox, the tenant the credentials name is reset and given each interaction's provider
states (the sandbox's provider-state endpoint applies the scenario pack of that name), as Pact
verifiers do with a provider's state-change URL. A story (interactions a sandbox recorded on
one tenant, in order) is reset once and replayed whole, each interaction adding the states its
story gained since the last, each later request carrying the ids this run's answers made.
Anything else is a vendor's server: no state can be set there, no control call is made, and
only reads are sent unless writes are allowed. What counts as a sandbox is the caller's
decision (`Target.sandbox`): `contract verify` takes only one on this machine's loopback, or
one the user says is a sandbox, since a sandbox is sent the control token and resets."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from billing_sandbox.contracts.deadline import Deadline, Overdue
from billing_sandbox.contracts.matching import Mismatch, response_mismatches
from billing_sandbox.contracts.model import Interaction, Pact, ProviderState, Response
from billing_sandbox.contracts.reading import is_json_media_type
from billing_sandbox.contracts.replay import (
    CannotPrepare,
    PreparedRequest,
    Signing,
    expected_response,
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
# Said of a server off loopback that answers GET /_sandbox/health as a sandbox does: it is
# still taken for a vendor's (no control token, no reset, no write) until the user says.
LOOKS_LIKE_SANDBOX = (
    "answers like a billing-sandbox; pass --sandbox to reset it and set provider states"
)
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
    `answers_like_sandbox`: not taken for a sandbox, though it answers as one (off loopback,
    and the user did not say it is one); the report says how to take it for one.
    """

    base_url: str
    signing: Signing
    sandbox: bool
    tenant: str | None = None
    control_token: str = field(default="", repr=False)
    allow_writes: bool = False
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_answer_bytes: int = MAX_ANSWER_BYTES
    answers_like_sandbox: bool = False

    @property
    def sets_states(self) -> bool:
        return self.sandbox and self.tenant is not None

    def why_no_states(self) -> str:
        if not self.sandbox and self.answers_like_sandbox:
            return f"{self.base_url} is taken for a vendor's server (see above)"
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
    if target.answers_like_sandbox and not target.sandbox:
        notes.append(f"{target.base_url} {LOOKS_LIKE_SANDBOX}")
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
    states: _StoryStates | None = None
    if target.sets_states:
        try:
            control.reset()
        except _StateFailed as failure:
            mismatch = Mismatch(WHERE_STATE, str(failure))
            return [InteractionResult(i, FAILED, (mismatch,)) for i in group]
        states = _StoryStates(control)
    story = group[0].story is not None
    learnt: dict[str, str] = {}
    results: list[InteractionResult] = []
    for interaction in group:
        notes: list[str] = []
        if states is None and interaction.provider_states:
            notes.append(f"provider states not set: {target.why_no_states()}")
        if story and any(r.result == SKIPPED for r in results):
            notes.append("an earlier interaction of its story was not sent")
        if states is not None:
            try:
                states.advance(interaction.provider_states)
            except _StateFailed as failure:
                mismatch = Mismatch(WHERE_STATE, str(failure))
                results.append(
                    InteractionResult(interaction, FAILED, (mismatch,), notes=tuple(notes))
                )
                continue
        values = states.values if states is not None else None
        results.append(
            _verify_one(interaction, target, client, learnt if story else None, values, notes)
        )
    if states is not None and states.set_up:
        problem = control.teardown(states.set_up)
        if problem:
            last = results[-1]
            results[-1] = dataclasses.replace(last, notes=(*last.notes, problem))
    return results


class _StoryStates:
    """The provider states set on the tenant for one story so far, in order, and the values
    their setups answered (for ProviderState generators).

    A pact the sandbox exported lists, for each interaction, every scenario applied to its
    tenant since the story began, in order: a scenario applied part-way through a test makes
    the later interactions' lists longer. Each interaction then sets up only what its list
    adds; a list that does not begin with what is set cannot be reached without a reset, which
    would lose what the story made."""

    def __init__(self, control: _Control) -> None:
        self.control = control
        self.set_up: list[ProviderState] = []
        self.values: dict[str, Any] = {}

    def advance(self, wanted: Sequence[ProviderState]) -> None:
        """Set up the states `wanted` lists past those already set; _StateFailed when one
        cannot be, or when `wanted` does not continue them."""
        done = len(self.set_up)
        if tuple(wanted[:done]) != tuple(self.set_up):
            raise _StateFailed(
                f"its provider states ({_names(wanted)}) do not continue its story's "
                f"({_names(self.set_up)}): a story's states only grow, a scenario at a time"
            )
        for state in wanted[done:]:
            self.values.update(self.control.setup(state))
            self.set_up.append(state)


def _names(states: Sequence[ProviderState]) -> str:
    return ", ".join(repr(state.name) for state in states) or "none"


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
    expected, generated = expected_response(
        _with_learnt(recorded, learnt) if learnt else recorded, values
    )
    notes += generated
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
    """One request, its answer read whole, up to `max_bytes`, within `timeout` seconds in all
    (a server dripping its answer resets no read's timeout here); _NoAnswer says why there is
    none."""
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers = {**(headers or {}), "Content-Type": "application/json"}
    with Deadline(client, timeout) as limit:
        try:
            with client.stream(
                method,
                url,
                params=list(query),
                headers=dict(headers or {}),
                content=content,
                timeout=timeout,
                extensions=limit.extensions,
            ) as response:
                raw = limit.read(response, max_bytes)
        except Overdue as overdue:
            raise _NoAnswer(str(overdue)) from None
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError) as error:
            if limit.passed or isinstance(error, httpx.TimeoutException):
                raise _NoAnswer(f"no whole answer within {timeout:g} s") from None
            raise _NoAnswer(f"{type(error).__name__}: {error}") from None
    if raw is None:
        raise _NoAnswer(f"the answer is larger than {max_bytes} bytes; not read")
    names = {name.lower() for name in response.headers}
    answered = {name: ", ".join(response.headers.get_list(name)) for name in names}
    content_type = response.headers.get("content-type", "")
    return Answer(
        status=response.status_code,
        headers=answered,
        body=_parsed(raw, content_type),
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

    def setup(self, state: ProviderState) -> dict[str, Any]:
        """Set `state` up; the values its answer holds, for ProviderState generators."""
        status, body = self._call("/provider-states", _change(state, "setup"), state.name)
        if status == 200:
            return body if isinstance(body, dict) else {}
        if status == 404 and isinstance(body, dict) and body.get("error") == "UnknownScenario":
            known = [str(name) for name in body.get("available") or []]
            shown = ", ".join(known[:_NAMED_STATES]) + (", …" if len(known) > _NAMED_STATES else "")
            raise _StateFailed(
                f"{state.name!r} is no state this sandbox knows (it knows: {shown or 'none'})"
            )
        raise _StateFailed(f"setting up {state.name!r} answered {status}: {_said(body)}")

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
        # The control token goes to a sandbox only, whatever the caller put in the target.
        token = self.target.control_token if self.target.sandbox else ""
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
