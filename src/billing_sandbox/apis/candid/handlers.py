"""Candid handlers: translate a validated call into one store call. No rules live here."""

from __future__ import annotations

from typing import Any

from billing_sandbox.api import Call
from billing_sandbox.apis.candid import auth
from billing_sandbox.apis.candid.store import CandidStore, WriteOffQuery


async def get_token(call: Call[None]) -> dict[str, Any]:
    return auth.issue(call.body["client_id"], call.body["client_secret"], call.sandbox)


async def get_write_offs(call: Call[CandidStore]) -> Any:
    # The whole page, kept as the tenant's bytes by its query string until the tenant's next
    # write (its page tokens are a function of the records and the query): a client that
    # lists the same page again is answered without walking the indexes. A query that fails
    # (a bad page token) keeps nothing.
    return call.renders.get("candid.page", call.raw_query, lambda: _page(call))


def _page(call: Call[CandidStore]) -> dict[str, Any]:
    query = {**call.query, "account_types": tuple(call.query.get("account_types", ()))}
    ids, tokens = call.store.page_of_write_offs(WriteOffQuery(**query))
    # The page as the tenant's kept bytes (a write-off is served as it is stored): ids are
    # their own keys, and only an unkept one is looked up.
    items = call.renders.each("candid.write_off", ids, None, call.store.get_write_off)
    return {"items": items, **tokens}


async def get_write_off(call: Call[CandidStore]) -> Any:
    write_off = call.store.get_write_off(call.path["write_off_id"])
    # Kept by its canonical id, the same bytes a page holds (the path's id may differ in case).
    return call.renders.get("candid.write_off", write_off["write_off_id"], lambda: write_off)


async def create_write_offs(call: Call[CandidStore]) -> dict[str, Any]:
    return {"write_offs": call.store.create_write_offs(call.body["write_offs"])}


async def revert_write_off(call: Call[CandidStore]) -> dict[str, Any]:
    return call.store.revert(call.path["write_off_id"])


async def revert_era_originated_insurance_balance_adjustment(call: Call[CandidStore]) -> str:
    return call.store.revert_era_originated(call.path["adjustment_id"])
