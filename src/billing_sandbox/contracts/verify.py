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
one the user says is a sandbox, since a sandbox is sent the control token and resets.

What a run needs besides is found elsewhere: the control calls in `sandboxcontrol`, each request
and its whole answer in `exchange`, the request sent in `replay`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from billing_sandbox.contracts.exchange import Answer, NoAnswer, send
from billing_sandbox.contracts.expectedresponse import expected_response
from billing_sandbox.contracts.generators import CannotPrepare
from billing_sandbox.contracts.matching import Mismatch, response_mismatches
from billing_sandbox.contracts.model import Interaction, Pact, ProviderState, Response
from billing_sandbox.contracts.replay import PreparedRequest, prepare
from billing_sandbox.contracts.sandboxcontrol import (
    CannotVerify,
    SandboxControl,
    StateFailed,
    probe,
)
from billing_sandbox.contracts.substitutions import learn, substituted
from billing_sandbox.contracts.target import DEFAULT_TIMEOUT_SECONDS, Target

# What other modules take from here, wherever it is now defined.
__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "FAILED",
    "LOOKS_LIKE_SANDBOX",
    "PASSED",
    "SKIPPED",
    "CannotVerify",
    "InteractionResult",
    "PactResult",
    "Target",
    "probe",
    "stories",
    "verify_pact",
]

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# Methods that change nothing, the only ones sent to a vendor's server without --allow-writes.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a mismatch that is not about the answer is said to be about.
WHERE_REQUEST = "request"
WHERE_STATE = "provider state"
SKIPPED_WRITE = "writes need --allow-writes"
# Said of a server off loopback that answers GET /_sandbox/health as a sandbox does: it is
# still taken for a vendor's (no control token, no reset, no write) until the user says.
LOOKS_LIKE_SANDBOX = (
    "answers like a billing-sandbox; pass --sandbox to reset it and set provider states"
)


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


def verify_pact(pact: Pact, target: Target, client: httpx.Client) -> PactResult:
    """Replay every interaction of `pact` against `target`, a story or a lone one at a time."""
    control = SandboxControl(client, target)
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
    group: list[Interaction], target: Target, client: httpx.Client, control: SandboxControl
) -> list[InteractionResult]:
    states: _StoryStates | None = None
    if target.sets_states:
        try:
            control.reset()
        except StateFailed as failure:
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
            except StateFailed as failure:
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

    def __init__(self, control: SandboxControl) -> None:
        self.control = control
        self.set_up: list[ProviderState] = []
        self.values: dict[str, Any] = {}

    def advance(self, wanted: Sequence[ProviderState]) -> None:
        """Set up the states `wanted` lists past those already set; StateFailed when one
        cannot be, or when `wanted` does not continue them."""
        done = len(self.set_up)
        if tuple(wanted[:done]) != tuple(self.set_up):
            raise StateFailed(
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
    except NoAnswer as problem:
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


def _send_prepared(client: httpx.Client, target: Target, request: PreparedRequest) -> Answer:
    return send(
        client,
        request.method,
        target.base_url + request.path,
        target.max_answer_bytes,
        target.timeout_seconds,
        query=request.query,
        headers=request.headers,
        content=request.content,
    )
