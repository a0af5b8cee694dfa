"""Candid handlers: translate a validated call into one store call. No rules live here."""

from __future__ import annotations

from typing import Any

from billing_sandbox.apis.candid import tokens
from billing_sandbox.apis.candid.store import CandidStore, WriteOffQuery
from billing_sandbox.call import Call


def _store(call: Call) -> CandidStore:
    store: CandidStore = call.tenant.store("candid")
    return store


async def get_token(call: Call) -> dict[str, Any]:
    return tokens.issue(call.body["client_id"], call.body["client_secret"], call.sandbox)


async def get_write_offs(call: Call) -> dict[str, Any]:
    query = {**call.query, "account_types": tuple(call.query.get("account_types", ()))}
    return _store(call).list_write_offs(WriteOffQuery(**query))


async def get_write_off(call: Call) -> dict[str, Any]:
    return _store(call).get_write_off(call.path["write_off_id"])


async def create_write_offs(call: Call) -> dict[str, Any]:
    return {"write_offs": _store(call).create_write_offs(call.body["write_offs"])}


async def revert_write_off(call: Call) -> dict[str, Any]:
    return _store(call).revert(call.path["write_off_id"])


async def revert_era_originated_insurance_balance_adjustment(call: Call) -> str:
    return _store(call).revert_era_originated(call.path["adjustment_id"])
