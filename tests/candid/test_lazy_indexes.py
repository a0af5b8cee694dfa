"""The store makes its filter index and its sorts by amount and note on the first read that
needs them (issue 33: a seeded tenant's indexes weighed more than its write-offs), and keeps
them up to date after. Either way a read answers what the write-offs themselves say."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.candid.helpers import (
    CURATED_WRITE_OFF,
    SERVICE_LINE,
    WRITE_OFFS,
    auth,
    insurance_item,
    patient_item,
    walk,
)

pytestmark = pytest.mark.anyio


def _on_line(record: dict[str, Any]) -> bool:
    """Whether a write-off names the fixture service line itself (by the filter's rule)."""
    target = record.get("write_off_target") or {}
    named = record.get("service_line_id")
    return named == SERVICE_LINE or target == {"type": "service_line_id", "value": SERVICE_LINE}


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["write_off_id"] for record in records]


async def _reads(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, list[str]]:
    """What the indexed reads answer, beside what a walk of every write-off says they should."""
    every = await walk(client, headers)
    by_amount = sorted(every, key=lambda r: (r["amount_cents"], r["write_off_id"]))
    by_note = sorted(every, key=lambda r: (r.get("write_off_note") or "", r["write_off_id"]))
    up = {"sort_direction": "asc"}
    by_amount_up = {"sort": "amount_cents", **up}
    return {
        "by amount": _ids(await walk(client, headers, **by_amount_up)),
        "by amount, expected": _ids(by_amount),
        "by note": _ids(await walk(client, headers, sort="write_off_note", **up)),
        "by note, expected": _ids(by_note),
        "on the line": _ids(
            await walk(client, headers, service_line_id=SERVICE_LINE, **by_amount_up)
        ),
        "on the line, expected": _ids([r for r in by_amount if _on_line(r)]),
        "patients": _ids(await walk(client, headers, account_types="PATIENT", **by_amount_up)),
        "patients, expected": _ids([r for r in by_amount if r["type"] == "patient"]),
    }


async def _write(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    made = await client.post(
        WRITE_OFFS,
        json={"write_offs": [patient_item(write_off_note="aaa first"), insurance_item()]},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    reverted = await client.post(f"{WRITE_OFFS}/{CURATED_WRITE_OFF}/revert", headers=headers)
    assert reverted.status_code == 200, reverted.text


@pytest.mark.parametrize("read_first", [True, False], ids=["made-before-writes", "made-after"])
async def test_indexed_reads_match_the_write_offs_however_the_indexes_were_made(
    client: httpx.AsyncClient, read_first: bool
) -> None:
    headers = await auth(client, f"lazy-{read_first}")
    if read_first:
        before = await _reads(client, headers)
        for name in ("by amount", "by note", "on the line", "patients"):
            assert before[name] == before[f"{name}, expected"]
    await _write(client, headers)
    after = await _reads(client, headers)
    for name in ("by amount", "by note", "on the line", "patients"):
        assert after[name] == after[f"{name}, expected"], name
    assert len(after["on the line"]) >= 3  # the fixture's own and the two written on it
