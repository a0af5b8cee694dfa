"""A billing-sandbox's control API as a verification uses it: whether a server is a sandbox at
all (`probe`), and the tenant under test reset and given provider states, as Pact verifiers
call a provider's state-change URL (the sandbox's provider-state endpoint applies the scenario
pack of that name). The control token goes with these calls, and only to a sandbox."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from billing_sandbox.contracts.exchange import NoAnswer, send
from billing_sandbox.contracts.model import ProviderState
from billing_sandbox.contracts.target import DEFAULT_TIMEOUT_SECONDS, Target

# How many of the sandbox's known states an "unknown state" failure names.
_NAMED_STATES = 12


class CannotVerify(Exception):
    """The run cannot go on (exit 2): nothing answers at the URL, or the sandbox refuses the
    control calls."""


class StateFailed(Exception):
    """A provider state could not be set: why, for the results of the interactions it was
    for."""


def probe(
    client: httpx.Client, base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> tuple[str, ...] | None:
    """The APIs the sandbox at `base_url` serves, or None when it is not a sandbox (anything
    that does not answer `GET /_sandbox/health` as one does). Raises CannotVerify when nothing
    answers at all. No credentials go with it: it may be a vendor's server."""
    try:
        answer = send(client, "GET", base_url + "/_sandbox/health", 64 * 1024, timeout)
    except NoAnswer as problem:
        raise CannotVerify(f"nothing answers at {base_url} ({problem})") from None
    body = answer.body
    if answer.status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        return None
    apis = body.get("apis")
    if not isinstance(apis, list) or not all(isinstance(api, str) for api in apis):
        return None
    return tuple(apis)


class SandboxControl:
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
            raise StateFailed(f"resetting tenant {self.target.tenant!r} answered {status}: "
                              f"{_said(body)}")  # fmt: skip

    def setup(self, state: ProviderState) -> dict[str, Any]:
        """Set `state` up; the values its answer holds, for ProviderState generators."""
        status, body = self._call("/provider-states", _change(state, "setup"), state.name)
        if status == 200:
            return body if isinstance(body, dict) else {}
        if status == 404 and isinstance(body, dict) and body.get("error") == "UnknownScenario":
            known = [str(name) for name in body.get("available") or []]
            shown = ", ".join(known[:_NAMED_STATES]) + (", …" if len(known) > _NAMED_STATES else "")
            raise StateFailed(
                f"{state.name!r} is no state this sandbox knows (it knows: {shown or 'none'})"
            )
        raise StateFailed(f"setting up {state.name!r} answered {status}: {_said(body)}")

    def teardown(self, states: Sequence[ProviderState]) -> str:
        """Tear each state down; what went wrong, if anything (a note: the results stand)."""
        for state in states:
            try:
                status, body = self._call(
                    "/provider-states", _change(state, "teardown"), state.name
                )
            except StateFailed as problem:
                return str(problem)
            if status != 200:
                return f"tearing down {state.name!r} answered {status}: {_said(body)}"
        return ""

    def _call(self, path: str, body: Any, what: str) -> tuple[int, Any]:
        # The control token goes to a sandbox only, whatever the caller put in the target.
        token = self.target.control_token if self.target.sandbox else ""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = send(
                self.client,
                "POST",
                self.tenant_url + path,
                self.target.max_answer_bytes,
                self.target.timeout_seconds,
                headers=headers,
                json_body=body,
            )
        except NoAnswer as problem:
            raise StateFailed(f"{what}: the sandbox did not answer ({problem})") from None
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
