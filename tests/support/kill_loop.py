"""The kill loop's writers and checks (issue 28): concurrent writers on several tenants and all
three APIs until a SIGKILL, and what must hold after the restart. Used by the state tests (a
server killed) and the cluster tests (a shard killed)."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from billing_sandbox.app import create_app
from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, patient_item
from tests.decoda.helpers import ITEM, PATIENT
from tests.mycure.helpers import FACILITY, HMO
from tests.support.processes import free_port

TENANTS = ("kill-a.test", "kill-b.test", "kill-c.test")


@dataclass(frozen=True)
class Kind:
    """A kind of write: where it is made and read back, and where a tenant's export lists it."""

    api: str
    create: str
    read: str  # `{id}` is the record's id
    listing: str  # a read, which seeds the API's store of a new tenant
    table: str  # the list of the tenant's export under `apis.<api>`
    key: str  # the id's field, in the answer and in the export
    body: Callable[[int], dict[str, Any]]
    unwrap: Callable[[Any], dict[str, Any]] = lambda answer: dict(answer)


KINDS = (
    Kind("decoda", "/v1/patient/create", "/v1/patient/{id}", "/v1/patient/list", "patients", "id",
         lambda n: {"firstName": f"Kill{n}", "lastName": "Loop"}),
    Kind("decoda", "/v1/charge/create", "/v1/charge/get/{id}", "/v1/charge/list", "charges", "id",
         lambda n: {"patientId": PATIENT, "totalOutstanding": 1 + n % 5000,
                    "items": [{"itemId": ITEM, "quantity": 1}]}),
    Kind("candid", WRITE_OFFS, WRITE_OFFS + "/{id}", WRITE_OFFS + "?limit=1", "write_offs",
         "write_off_id", lambda n: {"write_offs": [patient_item(amount_cents=1 + n % 100)]},
         lambda answer: dict(answer["write_offs"][0])),
    Kind("mycure", "/billing-soas", "/billing-soas/{id}", "/billing-soas?$limit=1", "soas", "id",
         lambda n: {"facility": FACILITY, "type": "organization", "customer": HMO}),
)  # fmt: skip

Headers = dict[str, dict[str, str]]  # per API


# ---- a server ----


@dataclass
class Server:
    base: str
    process: subprocess.Popen[str]
    stderr: str = ""

    def kill(self) -> None:
        """SIGKILL (if it still runs), then wait for it and keep what it said."""
        if self.process.poll() is None:
            self.process.kill()
        if self.process.stderr is not None and not self.process.stderr.closed:
            _, self.stderr = self.process.communicate(timeout=15)
        assert "Traceback" not in self.stderr, self.stderr


@contextmanager
def serving(state_file: Path, fsync: str) -> Iterator[Server]:
    """`billing-sandbox serve --state-file F --fsync MODE` on a free loopback port, once it
    answers; SIGKILLed at the end if it still runs."""
    port = free_port()
    command = [sys.executable, "-m", "billing_sandbox", "serve", "--records", "20", "--quiet",
               "--state-file", str(state_file), "--fsync", fsync, "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{server.base}/_sandbox/health")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        yield server
    finally:
        server.kill()


def credentials(base: str, tenant: str) -> Headers:
    """The tenant's credentials for each API (a Candid token, a MYCURE sign-in, Decoda's
    headers), from the server at `base`."""
    token = httpx.post(f"{base}/api/auth/v2/token",
                       json={"client_id": tenant, "client_secret": "kill-loop"})  # fmt: skip
    assert token.status_code == 200, token.text
    signed = httpx.post(f"{base}/authentication",
                        json={"strategy": "local", "email": f"ana@{tenant}",
                              "password": "kill-loop"})  # fmt: skip
    assert signed.status_code == 201, signed.text
    return {
        "decoda": {"TENANT": tenant, "API-KEY": "kill-loop"},
        "candid": {"Authorization": f"Bearer {token.json()['access_token']}"},
        "mycure": {"Authorization": f"Bearer {signed.json()['accessToken']}"},
    }


def seeded(base: str, tenants: Sequence[str]) -> dict[str, Headers]:
    """New tenants with each API's store seeded (by a read), so that the ids they start with
    are in their exports; their credentials."""
    headers = {tenant: credentials(base, tenant) for tenant in tenants}
    for tenant in tenants:
        for kind in KINDS:
            read = httpx.get(base + kind.listing, headers=headers[tenant][kind.api])
            assert read.status_code == 200, read.text
    return headers


def exports(base: str, tenants: Sequence[str]) -> dict[str, bytes]:
    """Each tenant's export, as the bytes served."""
    found = {}
    for tenant in tenants:
        exported = httpx.get(f"{base}/_sandbox/tenants/{tenant}/state")
        assert exported.status_code == 200, exported.text
        found[tenant] = exported.content
    return found


def replayed(state_file: Path) -> dict[str, bytes]:
    """Every tenant's export after a replay of `state_file` and its log in this process: the
    start-up code of a restart, without the seconds a process of its own costs."""
    app = create_app(Settings(records=20, state_file=state_file))

    async def export() -> dict[str, bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            answers = [await client.get(f"/_sandbox/tenants/{t}/state") for t in TENANTS]
        return {tenant: answer.content for tenant, answer in zip(TENANTS, answers, strict=True)}

    return asyncio.run(export())


def ids_in(exported: bytes, kind: Kind) -> list[str]:
    rows = orjson.loads(exported)["apis"][kind.api][kind.table]
    return [row[kind.key] for row in rows]


# ---- writers ----


@dataclass
class Tally:
    """What the writers of one round were told: the records acknowledged (2xx), per tenant and
    kind; how many writes got no answer of their own (in flight at the kill); what stopped a
    writer before the kill (nothing should)."""

    acked: defaultdict[tuple[str, Kind], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unanswered: Counter[tuple[str, Kind]] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)


async def write_until_killed(
    client: httpx.AsyncClient,
    tenant: str,
    kind: Kind,
    headers: Headers,
    tally: Tally,
    killed: asyncio.Event,
) -> None:
    """One write after another until the kill (`killed` is set just before it)."""
    for n in itertools.count():
        if killed.is_set():
            return
        try:
            answer = await client.post(kind.create, json=kind.body(n), headers=headers[kind.api])
        except httpx.TransportError as error:
            tally.unanswered[tenant, kind] += 1
            if not killed.is_set():
                tally.refused.append(f"{tenant} {kind.create}: no answer ({error!r})")
            return
        if answer.is_success:
            tally.acked[tenant, kind].append(kind.unwrap(answer.json()))
        elif killed.is_set():  # a proxy in front answers for the dead server (502, 503)
            tally.unanswered[tenant, kind] += 1
            return
        else:
            tally.refused.append(f"{tenant} {kind.create}: {answer.status_code} {answer.text}")
            return


async def save_until_killed(client: httpx.AsyncClient, tally: Tally, killed: asyncio.Event) -> None:
    """A save now and then: a kill may land mid-save, or between the snapshot and the new log."""
    while not killed.is_set():
        await asyncio.sleep(0.5)
        try:
            saved = await client.post("/_sandbox/state/save")
        except httpx.TransportError:
            return
        if saved.status_code != 200 and not killed.is_set():
            tally.refused.append(f"save: {saved.status_code} {saved.text}")
            return


async def write_and_kill(
    base: str,
    headers: dict[str, Headers],
    delay: float,
    kill: Callable[[], None],
    saving: bool = True,
) -> Tally:
    """Writers on every tenant and kind at once (and a saver), until `kill()`, `delay` s in."""
    tally = Tally()
    killed = asyncio.Event()
    limits = httpx.Limits(max_connections=len(headers) * len(KINDS) + 1)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
        tasks = [
            asyncio.create_task(write_until_killed(client, tenant, kind, held, tally, killed))
            for tenant, held in headers.items()
            for kind in KINDS
        ]
        if saving:
            tasks.append(asyncio.create_task(save_until_killed(client, tally, killed)))
        await asyncio.sleep(delay)
        killed.set()
        kill()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert not tally.refused, tally.refused  # every writer was stopped by the kill
    assert sum(map(len, tally.acked.values())) > 0, "nothing was written before the kill"
    return tally


# ---- checks ----


def check_acknowledged(
    base: str, after: dict[str, bytes], before: dict[str, bytes], tally: Tally
) -> None:
    """In each tenant's export after the restart (`after`), every write acknowledged since
    `before` is there, once; nothing else was added but writes that got no answer; and each
    reads back by id as it was answered (the same ids, timestamps and fields)."""
    for tenant, exported in after.items():
        for kind in KINDS:
            ids = ids_in(exported, kind)
            assert len(ids) == len(set(ids)), f"{tenant} {kind.table}: a record is there twice"
            acked = [record[kind.key] for record in tally.acked[tenant, kind]]
            assert len(acked) == len(set(acked)), f"{tenant} {kind.table}: an id given twice"
            new = set(ids) - set(ids_in(before[tenant], kind))
            lost = set(acked) - new
            assert not lost, f"{tenant} {kind.table}: {len(lost)} acknowledged writes lost"
            unasked = new - set(acked)
            assert len(unasked) <= tally.unanswered[tenant, kind], (tenant, kind.table, unasked)
    with httpx.Client(base_url=base) as client:
        for tenant in after:
            headers = credentials(base, tenant)
            for kind in KINDS:
                for record in tally.acked[tenant, kind]:
                    path = kind.read.format(id=record[kind.key])
                    found = client.get(path, headers=headers[kind.api])
                    assert found.status_code == 200, found.text
                    assert found.json() == record
