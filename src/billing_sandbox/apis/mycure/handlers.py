"""MYCURE handlers: translate a validated call into one store call. No rules live here."""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from billing_sandbox.api import Call
from billing_sandbox.apis.mycure import auth, realtime
from billing_sandbox.apis.mycure.store import FindLimits, MycureStore


def _caller(call: Call[MycureStore]) -> str:
    if call.principal is None:
        raise RuntimeError("MYCURE calls are made by an account")
    return call.principal


async def authenticate(call: Call[None]) -> dict[str, Any]:
    return auth.sign_in(call.body, call.sandbox)


async def get_account(call: Call[MycureStore]) -> dict[str, Any]:
    return call.store.account(call.path["uid"]).as_json()


async def find_billing_soas(call: Call[MycureStore]) -> Any:
    # The whole answer, kept as the tenant's bytes by its query string until the tenant's
    # next write: a client that asks the same find again is answered without a scan, a
    # filter and a sort of the tenant's statements. A query that fails keeps nothing.
    return call.renders.get("mycure.find", call.raw_query, lambda: _find(call))


def _find(call: Call[MycureStore]) -> Any:
    settings = call.sandbox.settings
    limits = FindLimits(settings.mycure_default_limit, settings.mycure_max_limit)
    found = call.store.find(call.raw_query, limits)
    data = found.data
    if not found.selected:
        # Whole statements, each as the tenant's kept bytes (shared with `get_billing_soa`).
        data = call.renders.each("mycure.soa", data, _ID, _as_is)
    if settings.mycure_paginate:
        return {"total": found.total, "limit": found.limit, "skip": found.skip, "data": data}
    return data


_ID = itemgetter("id")


def _as_is(statement: Mapping[str, Any]) -> Mapping[str, Any]:
    return statement


async def create_billing_soa(call: Call[MycureStore]) -> dict[str, Any]:
    created = call.store.create(call.body, _caller(call))
    realtime.publish(call, "created", created)
    return created


async def get_billing_soa(call: Call[MycureStore]) -> Any:
    soa_id = call.path["id"]
    # On a read, the statement's kept rendering (the tenant's writes forget it).
    return call.renders.get("mycure.soa", soa_id, lambda: call.store.get(soa_id))


async def patch_billing_soa(call: Call[MycureStore]) -> dict[str, Any]:
    patched = call.store.patch(call.path["id"], call.body, _caller(call))
    realtime.publish(call, "patched", patched)
    return patched


async def remove_billing_soa(call: Call[MycureStore]) -> dict[str, Any]:
    removed = call.store.remove(call.path["id"])
    realtime.publish(call, "removed", removed)
    return removed
