"""One application of a scenario to a tenant: the templates' values as it goes (answers, loop
rounds, the tenant's clock, seeded draws), each step sent, and what undoing it takes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson

from billing_sandbox.scenarios import fakes, model, vendors
from billing_sandbox.scenarios.check import as_sent
from billing_sandbox.scenarios.durations import parse_duration
from billing_sandbox.scenarios.inprocess import Answer, InProcess
from billing_sandbox.scenarios.model import Scenario
from billing_sandbox.scenarios.problems import StepFailed
from billing_sandbox.scenarios.templates import Reference, RenderError, instant_problem

_JSON = {"Content-Type": "application/json"}
_REDACTED = "[redacted]"
_FAULTS = "/_sandbox/faults"


class Run:
    """A scenario being applied to one tenant, through `client` (the app, in process)."""

    def __init__(
        self,
        client: InProcess,
        scenario: Scenario,
        tenant: str,
        control_headers: Mapping[str, str],
    ) -> None:
        self.client = client
        self.scenario = scenario
        self._tenant = tenant
        self.control_headers = dict(control_headers)
        self.tenant_path = f"/_sandbox/tenants/{quote(tenant, safe='')}"
        # The latest answer of each named step, and each repeat's round.
        self.results: dict[str, Any] = {}
        self.loop_vars: dict[str, int] = {}
        # Steps run so far; the one running is `index`.
        self.index = 0
        self._faker: Any = None
        # The tenant's clock as last read: kept while it is frozen, as nothing else moves it
        # (a clock or control step forgets it).
        self._now: datetime | None = None
        self._frozen = False
        # Credentials by API, and the APIs whose credentials are a bearer token, which expires
        # on the tenant's clock: forgotten when the clock may have moved.
        self._credentials: dict[str, dict[str, str]] = {}
        self._bearer: set[str] = set()
        # What the snapshot does not hold: fault rules added, rate limits as they were.
        self._faults: list[str] = []
        self._limits: dict[str, Any] | None = None

    # ---- templates.Context ----

    @property
    def tenant(self) -> str:
        return self._tenant

    def loop(self, name: str) -> int:
        return self.loop_vars[name]

    def reference(self, ref: Reference) -> Any:
        return ref.within(self.results[ref.step])

    def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("the tenant's clock is read before a step that needs it")
        return self._now

    def fake(self, provider: str) -> Any:
        if self._faker is None:
            self._faker = fakes.seeded(f"{self.scenario.seed}:{self._tenant}:{self.scenario.name}")
        return fakes.draw(self._faker, provider)

    # ---- state ----

    async def snapshot(self) -> bytes:
        """The tenant as the control API exports it (its bytes, to put back as they are)."""
        answer = await self._control_call("GET", f"{self.tenant_path}/state")
        if answer.status != 200:
            raise RuntimeError(
                f"cannot read tenant {self._tenant!r}'s state before applying "
                f"{self.scenario.name!r}: {answer.status} {answer.text[:300]}"
            )
        return answer.content

    async def restore(self, snapshot: bytes) -> bool:
        """Put the tenant back as `snapshot` holds it, remove the fault rules the scenario
        added and give back the rate limits it changed; whether all of it was done."""
        answer = await self._control_call("PUT", f"{self.tenant_path}/state", snapshot)
        done = answer.status == 200
        for rule in self._faults:
            answer = await self._control_call("DELETE", f"{_FAULTS}/{quote(rule, safe='')}")
            done = done and answer.status in (200, 404)
        if self._limits is not None:
            limits = orjson.dumps(self._limits)
            answer = await self._control_call("PUT", f"{self.tenant_path}/rate-limits", limits)
            done = done and answer.status == 200
        return done

    # ---- steps ----

    async def step(self, step: model.Call | model.Control | model.Clock) -> None:
        if step.needs_clock and (self._now is None or not self._frozen):
            await self._read_clock()
        if isinstance(step, model.Clock):
            answer = await self._clock(step)
        elif isinstance(step, model.Control):
            answer = await self._control(step)
        else:
            answer = await self._call(step)
        if step.name is not None:
            self.results[step.name] = answer
        self.index += 1

    async def _call(self, step: model.Call) -> Any:
        method, path, query, body = self._render(step, step.request)
        headers = await self._credentials_for(step)
        return await self._send(step, method, path, query, body, headers)

    async def _control(self, step: model.Control) -> Any:
        method, path, query, body = self._render(step, step.request)
        # A control call may move the clock (or replace the tenant): read it again, and get
        # new tokens (they expire on the tenant's clock).
        self._now = None
        self._forget_tokens()
        tenants = "/_sandbox/tenants/"
        if path.startswith(tenants) and not path.startswith(self.tenant_path + "/"):
            named = path[len(tenants) :].split("/", 1)[0]
            raise self._failed(
                step, method, path, query, body, None,
                f"names the tenant {named!r}: a scenario changes only its own ({self._tenant!r})",
            )  # fmt: skip
        if method == "PUT" and path == f"{self.tenant_path}/rate-limits" and self._limits is None:
            self._limits = await self._current_limits()
        answer = await self._send(step, method, path, query, body, self.control_headers)
        if method == "POST" and path == _FAULTS and isinstance(answer, dict) and "id" in answer:
            self._faults.append(str(answer["id"]))
        return answer

    async def _clock(self, step: model.Clock) -> Any:
        request: dict[str, Any]
        path = f"{self.tenant_path}/clock"
        if step.action == "resume":
            request = {"resume": True}
        else:
            value = self._render_value(step, step.value)
            if step.action == "advance":
                request = {"advanceSeconds": self._seconds(step, value, path)}
            else:
                problem = instant_problem(value) if isinstance(value, str) else "is not text"
                if problem:
                    raise self._failed(step, "POST", path, None, None, None, f"freeze: {problem}")
                request = {"freezeAt": value}
        answer = await self._send(step, "POST", path, None, request, self.control_headers)
        self._now = datetime.fromisoformat(answer["now"])
        self._frozen = bool(answer["frozen"])
        self._forget_tokens()
        return answer

    def _seconds(self, step: model.Clock, value: Any, path: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            raise self._failed(step, "POST", path, None, None, None, str(error)) from None

    # ---- sending ----

    def _render(
        self, step: model.Call | model.Control, request: model.Request
    ) -> tuple[str, str, Any, Any]:
        try:
            path = request.path.render(self)
            query = None if request.query is None else request.query.render(self)
            body = None if request.body is None else request.body.render(self)
        except (RenderError, KeyError) as error:
            raise self._failed(
                step, request.method, request.path.written, None, None, None, _why(error)
            ) from None
        return request.method, path, query, body

    def _render_value(self, step: model.Clock, node: Any) -> Any:
        try:
            return node.render(self)
        except (RenderError, KeyError) as error:
            path = f"{self.tenant_path}/clock"
            raise self._failed(step, "POST", path, None, None, None, _why(error)) from None

    async def _send(
        self,
        step: model.Call | model.Control | model.Clock,
        method: str,
        path: str,
        query: Any,
        body: Any,
        headers: Mapping[str, str],
    ) -> Any:
        params = _params(query)
        if body is None:
            response = await self.client.request(method, path, params, None, headers)
        else:
            content = orjson.dumps(body)
            response = await self.client.request(
                method, path, params, content, {**headers, **_JSON}
            )
        answer = _answer(response)
        if not 200 <= response.status < 300:
            failed = {"status": response.status, "body": answer}
            raise self._failed(step, method, path, query, body, failed)
        return answer

    async def _credentials_for(self, step: model.Call) -> dict[str, str]:
        api = step.api
        known = self._credentials.get(api)
        if known is not None:
            return known
        sign_in = vendors.sign_in(api, self._tenant)
        if sign_in.headers is not None:
            headers = dict(sign_in.headers)
        else:
            content = orjson.dumps(sign_in.body)
            response = await self.client.request("POST", sign_in.path, None, content, _JSON)
            answer = _answer(response)
            if not 200 <= response.status < 300 or not isinstance(answer, dict):
                shown = {
                    k: _REDACTED if k in ("client_secret", "password") else v
                    for k, v in (sign_in.body or {}).items()
                }
                failed = {"status": response.status, "body": answer}
                why = f"signing in to {api} as tenant {self._tenant!r} failed"
                raise self._failed(step, "POST", sign_in.path, None, shown, failed, why)
            headers = {"Authorization": f"Bearer {answer[sign_in.token_field]}"}
            self._bearer.add(api)
        self._credentials[api] = headers
        return headers

    def _forget_tokens(self) -> None:
        for api in self._bearer:
            self._credentials.pop(api, None)
        self._bearer.clear()

    async def _read_clock(self) -> None:
        response = await self._control_call("GET", f"{self.tenant_path}/clock")
        if response.status != 200:
            raise RuntimeError(f"cannot read tenant {self._tenant!r}'s clock: {response.status}")
        answer = response.json()
        self._now = datetime.fromisoformat(answer["now"])
        self._frozen = bool(answer["frozen"])

    async def _current_limits(self) -> dict[str, Any]:
        """The tenant's rate limits as `PUT .../rate-limits` takes them back."""
        response = await self._control_call("GET", f"{self.tenant_path}/rate-limits")
        limits: dict[str, Any] = {}
        for api, shown in response.json().get("limits", {}).items():
            if shown["source"] == "server":
                limits[api] = None
            else:
                limits[api] = "off" if shown["limit"] is None else shown["limit"]
        return limits

    async def _control_call(self, method: str, path: str, content: bytes | None = None) -> Answer:
        """A control API call of the run's own (not a step), its body JSON bytes."""
        headers = self.control_headers if content is None else {**self.control_headers, **_JSON}
        return await self.client.request(method, path, None, content, headers)

    def _failed(
        self,
        step: model.Call | model.Control | model.Clock,
        method: str,
        path: str,
        query: Any,
        body: Any,
        answer: Mapping[str, Any] | None,
        reason: str = "",
    ) -> StepFailed:
        request = {"method": method, "path": path, "query": query or {}, "body": body}
        return StepFailed(
            self.index,
            step.name,
            request,
            answer,
            reason,
            location=step.location,
            loop=self.loop_vars,
        )


def _params(query: Any) -> list[tuple[str, str]] | None:
    """Query parameters as they travel: text, a list's items each under the name."""
    if not query:
        return None
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, as_sent(item)))
    return pairs


def _answer(response: Answer) -> Any:
    """An answer's body: its JSON, or its text when it is not JSON (None when empty)."""
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text


def _why(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no value for {error.args[0]!r} yet"
    return str(error)
