"""MYCURE handlers: translate a validated call into one store call. No rules live here."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.mycure import authentication, querystring
from billing_sandbox.apis.mycure.store import FindLimits, MycureStore
from billing_sandbox.call import Call


def _store(call: Call) -> MycureStore:
    store: MycureStore = call.tenant.store("mycure")
    return store


def _caller(call: Call) -> str:
    if call.principal is None:
        raise RuntimeError("MYCURE calls are made by an account")
    return call.principal


async def authenticate(call: Call) -> dict[str, Any]:
    return authentication.authenticate(call.body, call.sandbox)


async def get_account(call: Call) -> dict[str, Any]:
    return _store(call).account(call.path["uid"]).as_json()


async def find_billing_soas(call: Call) -> Any:
    settings = call.sandbox.settings
    limits = FindLimits(settings.mycure_default_limit, settings.mycure_max_limit)
    found = _store(call).find(querystring.parse(call.raw_query), limits)
    if settings.mycure_paginate:
        return {"total": found.total, "limit": found.limit, "skip": found.skip, "data": found.data}
    return found.data


async def create_billing_soa(call: Call) -> dict[str, Any]:
    return _store(call).create(call.body, _caller(call))


async def get_billing_soa(call: Call) -> dict[str, Any]:
    return _store(call).get(call.path["id"])


async def patch_billing_soa(call: Call) -> dict[str, Any]:
    return _store(call).patch(call.path["id"], call.body, _caller(call))


async def remove_billing_soa(call: Call) -> dict[str, Any]:
    return _store(call).remove(call.path["id"])
