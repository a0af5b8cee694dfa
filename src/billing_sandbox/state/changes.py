"""What the write-ahead log keeps of each change, and how a change that is not an API call is
carried out again from it.

Each record names one change, ahead of it (`call`, `action`, `take`, `settle`) or, for the
control API's rare changes of a whole tenant, as the state they left (`tenant`, `limits`; a
change of every tenant makes a new snapshot instead). A call is kept with everything its
handler reads (parameters, body, the account) and the instant its tenant's clock read, so
carrying it out again on the same state makes the same ids and timestamps: the stores draw
ids from the state and time from the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from billing_sandbox.clock import instant, micros
from billing_sandbox.events.courier import Outcome
from billing_sandbox.observe.ratelimits import Limit
from billing_sandbox.sandbox import Sandbox
from billing_sandbox.state import snapshot

Record = dict[str, Any]

# Control operations that replace or forget every tenant: kept as a new snapshot.
EVERY_TENANT = frozenset({"resetAll", "putState"})
# The control operation that sets a tenant's own rate limits (kept apart from its records).
RATE_LIMITS = "setTenantRateLimits"
# Control operations made of other calls through the app (a scenario's steps, each a vendor or
# control call logged as it is carried out, and its undoing, a restore): they log nothing of
# their own, or replaying the log would carry their changes out twice.
COMPOSED = frozenset({"applyScenario"})
# ---- records ----


def call(
    api: str,
    operation_id: str,
    tenant: str,
    principal: str | None,
    parameters: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    body: Any,
    raw_query: str,
    at: datetime,
) -> Record:
    path, query, headers = parameters
    return {
        "t": "call",
        "api": api,
        "op": operation_id,
        "tenant": tenant,
        "principal": principal,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
        "qs": raw_query,
        "at": micros(at),
    }


def action(api: str, tenant: str, name: str, arguments: Mapping[str, Any], at: datetime) -> Record:
    return {
        "t": "action",
        "api": api,
        "tenant": tenant,
        "name": name,
        "args": dict(arguments),
        "at": micros(at),
    }


# `take` and `settle` records (a try of an event taken out, its outcome) are the courier's to
# write (`events/courier.py`), which knows when they happen; they are carried out below.


def tenant_state(tenant: str, state: dict[str, Any] | None) -> Record:
    """A tenant as a control call left it (None: forgotten, to be seeded anew)."""
    return {"t": "tenant", "tenant": tenant, "state": state}


def limits(tenant: str, overrides: dict[str, Any]) -> Record:
    return {"t": "limits", "tenant": tenant, "limits": overrides}


# ---- rate limits, as JSON ----


def limits_of(sandbox: Sandbox, tenant: str) -> dict[str, Any]:
    """A tenant's own rate limits: per API, a limit or "off"."""
    own = sandbox.limits.overrides.get(tenant, {})
    return {api: "off" if limit is None else limit.as_json() for api, limit in own.items()}


def set_limits(sandbox: Sandbox, tenant: str, overrides: Mapping[str, Any]) -> None:
    for api in list(sandbox.limits.overrides.get(tenant, {})):
        sandbox.limits.override(tenant, api, None, inherit=True)
    for api, given in overrides.items():
        limit = None if given == "off" else Limit(given["requests"], given["perSeconds"])
        sandbox.limits.override(tenant, api, limit, inherit=False)


# ---- carrying a record out again ----

Replayer = Callable[[Sandbox, Record], None]


def pinned(sandbox: Sandbox, tenant_id: str, at: int, change: Callable[[], None]) -> None:
    """`change` with the tenant's clock reading `at`, as it did when the change was made."""
    clock = sandbox.tenant(tenant_id).clock
    with clock.pinned(instant(at)):
        change()
    sandbox.mark_written(tenant_id)


def carry_out(sandbox: Sandbox, record: Record, outbox_of: Callable[[str, Any], Any]) -> bool:
    """Carry out a record that is not an API call; False for a call (the caller's to run)."""
    kind = record["t"]
    if kind == "call":
        return False
    tenant_id = record["tenant"]
    if kind == "tenant":
        state = record["state"]
        if state is None:
            sandbox.reset(tenant_id)
        else:
            sandbox.replace({tenant_id: snapshot.build_tenant(sandbox, tenant_id, state)})
    elif kind == "limits":
        set_limits(sandbox, tenant_id, record["limits"])
    elif kind == "action":
        store_kind = sandbox.kinds[record["api"]]
        replay_action = store_kind.replay_action
        if replay_action is None:
            raise ValueError(f"{record['api']} carries out no action {record['name']!r}")
        store = sandbox.tenant(tenant_id).store(record["api"])
        pinned(
            sandbox,
            tenant_id,
            record["at"],
            lambda: replay_action(store, record["name"], record["args"]),
        )
    elif kind in ("take", "settle"):
        outbox = outbox_of(record["api"], sandbox.tenant(tenant_id).store(record["api"]))
        if kind == "take":
            pinned(sandbox, tenant_id, record["at"], outbox.take_due)
        else:
            given = record["outcome"]
            outcome = Outcome(given["status"], given["error"], given["durationMs"])
            pinned(sandbox, tenant_id, record["at"], lambda: outbox.settle(record["key"], outcome))
    else:
        raise ValueError(f"unknown record kind {kind!r}")
    held = sandbox.held(tenant_id)
    if held is not None:
        held.renders.clear()
    return True
