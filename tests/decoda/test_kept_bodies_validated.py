"""A body built from kept renderings is validated like any other: once per composition of
kept bytes, and afresh after the tenant changes (the check is never carried past a write)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billing_sandbox.apis.decoda import render
from tests.decoda.helpers import CHARGE, creds, settle

LIST = "/billing/charge/list"


def _break_charges(monkeypatch: pytest.MonkeyPatch) -> None:
    real = render.charge_detail

    def broken(charge: Any, store: Any) -> Any:
        return {**real(charge, store), "totalOutstanding": "a lot"}  # the spec says integer

    monkeypatch.setattr(render, "charge_detail", broken)


@pytest.mark.anyio
async def test_a_kept_list_that_breaks_the_spec_is_never_served(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_charges(monkeypatch)
    for _ in range(2):  # the second read is served from the kept bytes: still refused
        listed = await client.get(LIST, headers=creds())
        assert listed.status_code == 500, listed.text
        assert "breaks its spec" in listed.text
        one = await client.get(f"/billing/charge/get/{CHARGE}", headers=creds())
        assert one.status_code == 500, one.text


@pytest.mark.anyio
async def test_a_check_is_not_carried_past_a_write(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get(LIST, headers=creds())).status_code == 200  # kept and checked
    assert (await client.get(LIST, headers=creds())).status_code == 200
    _break_charges(monkeypatch)
    # A payment changes a charge but not which charges the list holds: the same ids, new
    # bytes, checked afresh (a check named by the ids would wrongly carry over).
    assert (await settle(client, [CHARGE], 1000)).status_code == 200
    listed = await client.get(LIST, headers=creds())
    assert listed.status_code == 500, listed.text
