"""Handlers of the control API (`/_sandbox`): health, resets, reference data, the specs, the
journal, faults, clocks and scenarios. The root page (`GET /`) is the dashboard's (`ui/root.py`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response

from billing_sandbox import __version__
from billing_sandbox.api import Call
from billing_sandbox.control import pact, recording
from billing_sandbox.errors import ApiError, NotFound
from billing_sandbox.faults.reach import Target, check_reach, targets
from billing_sandbox.faults.rules import Match, effect_from_json
from billing_sandbox.observe.journal import Filter
from billing_sandbox.observe.ratelimits import OFF, Limit
from billing_sandbox.observe.stories import flattened
from billing_sandbox.sandbox import Sandbox, ScenarioRefusal, UnknownScenario
from billing_sandbox.state import persistence, snapshot
from billing_sandbox.tenants.tenant import Tenant


async def get_health(call: Call[None]) -> dict[str, Any]:
    return {"status": "ok", "version": __version__, "apis": sorted(call.sandbox.kinds)}


async def reset_all(call: Call[None]) -> dict[str, Any]:
    call.sandbox.reset()
    return {"reset": "all tenants"}


async def reset_tenant(call: Call[None]) -> dict[str, Any]:
    tenant = call.path["tenant"]
    call.sandbox.reset(tenant)
    return {"reset": tenant}


async def get_state(call: Call[None]) -> dict[str, Any]:
    return snapshot.export_all(call.sandbox)


async def put_state(call: Call[None]) -> dict[str, Any]:
    return snapshot.restore_all(call.sandbox, snapshot.decode(call.raw_body))


async def save_state(call: Call[None]) -> dict[str, Any]:
    return persistence.save(call.sandbox)


async def get_tenant_state(call: Call[None]) -> dict[str, Any]:
    return snapshot.export_tenant(call.sandbox, call.sandbox.tenant(call.path["tenant"]))


async def put_tenant_state(call: Call[None]) -> dict[str, Any]:
    return snapshot.restore_tenant(
        call.sandbox, call.path["tenant"], snapshot.decode(call.raw_body)
    )


async def get_reference(call: Call[None]) -> dict[str, Any]:
    name = call.path["api"]
    kind = call.sandbox.kinds.get(name)
    if kind is None:
        raise NotFound("reference data of API", name)
    return kind.reference(call.sandbox.tenant(call.path["tenant"]).store(name))


async def get_requests(call: Call[None]) -> dict[str, Any]:
    query = call.query
    wanted = Filter(
        tenant=query.get("tenant"),
        api=query.get("api"),
        operation_id=query.get("operationId"),
        status=query.get("status"),
        since=_instant(query.get("since")),
        until=_instant(query.get("until")),
        before=query.get("before"),
    )
    entries, next_before = call.sandbox.journal.find(wanted, query["limit"])
    return {"requests": [entry.as_json() for entry in entries], "nextBefore": next_before}


async def clear_requests(call: Call[None]) -> dict[str, Any]:
    return {"cleared": call.sandbox.journal.clear(call.query.get("tenant"))}


async def get_faults(call: Call[None]) -> dict[str, Any]:
    return {"faults": [rule.as_json() for rule in call.sandbox.faults.rules.values()]}


async def create_fault(call: Call[None]) -> dict[str, Any]:
    body = call.body
    given = body.get("match", {})
    match = Match(
        api=given.get("api"),
        operation_id=given.get("operationId"),
        method=given.get("method"),
        path=given.get("path"),
        tenant=given.get("tenant"),
    )
    effect = effect_from_json(body["effect"])
    # A rule that no call can ever meet, or that asks for a status no operation it meets
    # declares, is refused now rather than kept waiting in vain.
    check_reach(match, effect, _fault_targets(call.sandbox))
    until = None
    if "forSeconds" in body:
        # An outage window, on the clock of the tenant the rule names (else the server's).
        clock = (
            call.sandbox.clock if match.tenant is None else call.sandbox.tenant(match.tenant).clock
        )
        until = clock.now() + timedelta(seconds=body["forSeconds"])
    rule = call.sandbox.faults.add(
        match, effect, body.get("probability", 1), body.get("count"), until
    )
    return rule.as_json()


def _fault_targets(sandbox: Sandbox) -> list[Target]:
    """What a fault rule may meet: every vendor API's operations, and the steps beyond its
    spec that rules reach (Decoda's installments)."""
    operations = {
        name: spec.operations
        for name in sandbox.kinds
        if (spec := sandbox.api_spec(name)) is not None
    }
    steps = {name: kind.fault_steps for name, kind in sandbox.kinds.items()}
    return targets(operations, steps)


async def clear_faults(call: Call[None]) -> dict[str, Any]:
    return {"cleared": call.sandbox.faults.clear()}


async def delete_fault(call: Call[None]) -> dict[str, Any]:
    return call.sandbox.faults.remove(call.path["fault_id"]).as_json()


async def get_tenant_rate_limits(call: Call[None]) -> dict[str, Any]:
    return _rate_limits(call, call.path["tenant"])


async def set_tenant_rate_limits(call: Call[None]) -> dict[str, Any]:
    """Per API: a limit of the tenant's own, `"off"`, or null (back to the server's)."""
    tenant = call.path["tenant"]
    limits = call.sandbox.limits
    for api, given in call.body.items():
        if given is None:
            limits.override(tenant, api, None, inherit=True)
        elif given == "off":
            limits.override(tenant, api, OFF, inherit=False)
        else:
            limit = Limit(given["requests"], given["perSeconds"])
            limits.override(tenant, api, limit, inherit=False)
    return _rate_limits(call, tenant)


def _rate_limits(call: Call[None], tenant: str) -> dict[str, Any]:
    """Each API's limit for the tenant, and where it comes from."""
    limits = call.sandbox.limits
    own = limits.overrides.get(tenant, {})
    shown: dict[str, Any] = {}
    for api in sorted(call.sandbox.kinds):
        limit = limits.limit(tenant, api)
        shown[api] = {
            "limit": None if limit is None else limit.as_json(),
            "source": "tenant" if api in own else "server",
        }
    return {"tenant": tenant, "limits": shown}


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


async def get_tenant_clock(call: Call[None]) -> dict[str, Any]:
    return _clock_state(call.sandbox.tenant(call.path["tenant"]), [])


async def set_tenant_clock(call: Call[None]) -> dict[str, Any]:
    tenant = call.sandbox.tenant(call.path["tenant"])
    body = call.body
    if "freezeAt" in body:
        tenant.clock.freeze(datetime.fromisoformat(body["freezeAt"]))
    elif "advanceSeconds" in body:
        tenant.clock.advance(timedelta(seconds=body["advanceSeconds"]))
    else:
        tenant.clock.resume()
    # Each API settles what falls due on its own records (Decoda's installments).
    settled = [
        record_id
        for name, kind in call.sandbox.kinds.items()
        if kind.on_clock_moved is not None
        for record_id in kind.on_clock_moved(tenant.store(name), tenant.id, call.sandbox.faults)
    ]
    return _clock_state(tenant, settled)


def _clock_state(tenant: Tenant, settled: list[str]) -> dict[str, Any]:
    return {
        "tenant": tenant.id,
        "now": tenant.clock.now().isoformat(),
        "frozen": tenant.clock.frozen_at is not None,
        "settledInstallments": settled,
    }


async def list_scenarios(call: Call[None]) -> dict[str, Any]:
    return {"scenarios": call.sandbox.scenarios.listed()}


async def apply_scenario(call: Call[None]) -> dict[str, Any]:
    """A pack by name, or a scenario given whole: its steps go through the app as a client's
    calls would (each logged as it is carried out: `state.changes.COMPOSED`)."""
    body = call.body
    return await call.sandbox.scenarios.apply(
        call.path["tenant"], body.get("name"), body.get("scenario")
    )


async def get_tenant_scenario(call: Call[None]) -> dict[str, Any] | Response:
    """The tenant's journaled writes as a scenario (`control/recording.py`)."""
    made = recording.record(call.sandbox, call.path["tenant"])
    if call.query.get("format") == "yaml":
        return Response(recording.as_yaml(made), media_type="application/yaml")
    return made


async def get_tenant_pact(call: Call[None]) -> dict[str, Any]:
    """The tenant's calls as Pact v4 files (`control/pact.py`): the one for `provider`, or
    every provider's the tenant called."""
    tenant = call.path["tenant"]
    made = pact.pacts(call.sandbox, tenant, call.query["consumer"])
    provider = call.query.get("provider")
    if provider is None:
        return {"pacts": list(made.values())}
    if provider not in made:
        missing = NotFound("pact", provider)
        missing.message = (
            f"tenant {tenant!r} made no call to {provider!r} that the journal holds; "
            f"it called: {', '.join(made)}"
        )
        raise missing
    return made[provider]


async def change_provider_state(call: Call[None]) -> dict[str, Any]:
    """Pact's state-change call (`{state, params, action}`, in the body or the query, as Pact's
    verifiers send it): `setup` applies the scenario pack the state names to the tenant and
    answers the values its named steps answered, flattened (`{"charge.id": …}`), for the
    pact's ProviderState generators; `teardown` resets the tenant."""
    sent = call.body if isinstance(call.body, dict) else {}
    state = sent.get("state", call.query.get("state")) or ""
    action = sent.get("action", call.query.get("action")) or "setup"
    tenant = call.path["tenant"]
    if action == "teardown":
        call.sandbox.reset(tenant)
        return {}
    if not state:
        return {}  # an interaction that needs no state: nothing to set up
    name = pack_name(state)
    if not name:
        packs = [pack["name"] for pack in call.sandbox.scenarios.listed()]
        raise UnknownScenario(
            f"the state {state!r} has no letter or digit to name a scenario pack by",
            {"available": packs},
        )
    applied = await call.sandbox.scenarios.apply(tenant, name, None)
    return flattened(applied["named"])


def pack_name(state: str) -> str:
    """The scenario pack a provider state names: its name as it is (`decoda-overdue-clinic`),
    or a sentence made one (`A patient with an open charge` → `a-patient-with-an-open-charge`)."""
    return "-".join(re.findall(r"[a-z0-9]+", state.lower()))


async def get_spec_yaml(call: Call[None]) -> Response:
    spec = call.sandbox.spec(call.path["name"])
    return Response(spec.raw_yaml, media_type="application/yaml")


async def get_spec_json(call: Call[None]) -> Response:
    spec = call.sandbox.spec(call.path["name"])
    return Response(spec.as_json, media_type="application/json")


def render_error(error: ApiError) -> tuple[int, dict[str, Any]]:
    """The control API's own envelope: `{"error": <kind>, "message": <text>}`, the kind
    being the error's class name (`NotFound`, `ValidationFailed`): one style for every code.
    A scenario refused says more beside them (its problems, the step that failed)."""
    body = {"error": type(error).__name__, "message": error.message}
    if isinstance(error, ScenarioRefusal):
        body.update(error.details)
    return error.status, body
