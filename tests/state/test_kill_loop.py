"""The kill loop (issue 28): concurrent writers on several tenants and all three APIs, a SIGKILL
at a random moment, a restart; every write acknowledged before the kill is there, once and as
it was answered, and replaying the same files twice gives the same bytes.

The writers and checks are in `tests/support/kill_loop.py` (the cluster test kills a shard the
same way)."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests.support.kill_loop import (
    KINDS,
    TENANTS,
    Kind,
    Tally,
    check_acknowledged,
    credentials,
    exports,
    ids_in,
    replayed,
    seeded,
    serving,
    write_and_kill,
)

ROUNDS = 3
# Tiny, so that the log is folded into a new snapshot in the background at every tick of a
# round (a kill may land mid-compaction), besides the saves the loop asks for.
LOG_BOUND = 4 * 1024


@pytest.mark.kill
@pytest.mark.parametrize("fsync", ["every-second", "always"])
def test_no_acknowledged_write_is_lost_to_sigkill(
    tmp_path: Path, fsync: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_SANDBOX_MAX_LOG_BYTES", str(LOG_BOUND))
    chance = random.Random(f"kill-loop:{fsync}")
    folder = tmp_path / "state"
    folder.mkdir()
    state_file = folder / "state.json"
    acked_ever: defaultdict[tuple[str, Kind], set[str]] = defaultdict(set)
    tally: Tally | None = None
    before: dict[str, bytes] = {}
    for number in range(ROUNDS + 1):
        replica = tmp_path / f"replica-{number}"
        if tally is not None:
            shutil.copytree(folder, replica)  # the files as the kill left them, for a 2nd replay
        with serving(state_file, fsync) as server:
            if tally is None:
                headers = seeded(server.base, TENANTS)
                before = exports(server.base, TENANTS)
            else:
                # Before any other call (a sign-in) on the restarted server.
                after = exports(server.base, TENANTS)
                assert replayed(replica / "state.json") == after, "two replays differed"
                check_acknowledged(server.base, after, before, tally)
                for (tenant, kind), records in tally.acked.items():
                    acked_ever[tenant, kind] |= {record[kind.key] for record in records}
                for (tenant, kind), ever in acked_ever.items():
                    missing = ever - set(ids_in(after[tenant], kind))
                    assert not missing, f"{tenant} {kind.table}: lost since an earlier round"
                before = after
                # Signed in anew on each server, as a client after a restart would be (the
                # tokens of a first run do not outlive its kill: its key is on no disk yet).
                headers = {tenant: credentials(server.base, tenant) for tenant in TENANTS}
            if number == ROUNDS:
                break
            delay = chance.uniform(0.2, 1.0)
            tally = asyncio.run(write_and_kill(server.base, headers, delay, server.process.kill))


def test_a_write_acknowledged_just_before_sigkill_survives_without_fsync(tmp_path: Path) -> None:
    """`--fsync off`: what reached the page cache outlives the process."""
    state_file = tmp_path / "state.json"
    tenant = TENANTS[0]
    with serving(state_file, "off") as server:
        headers = credentials(server.base, tenant)
        made = []
        with httpx.Client(base_url=server.base) as client:
            for kind in KINDS:
                answer = client.post(kind.create, json=kind.body(7), headers=headers[kind.api])
                assert answer.is_success, answer.text
                made.append((kind, kind.unwrap(answer.json())))
            exported = client.get(f"/_sandbox/tenants/{tenant}/state").content
        server.kill()
    with serving(state_file, "off") as server:
        assert httpx.get(f"{server.base}/_sandbox/tenants/{tenant}/state").content == exported
        headers = credentials(server.base, tenant)
        for kind, record in made:
            path = kind.read.format(id=record[kind.key])
            found = httpx.get(server.base + path, headers=headers[kind.api])
            assert found.status_code == 200, found.text
            assert found.json() == record
