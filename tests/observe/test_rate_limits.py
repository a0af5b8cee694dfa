"""Rate limits as the vendors enforce them: a token bucket per tenant and API on the tenant's
clock, 429 with `Retry-After` in the vendor's envelope, other tenants untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from billing_sandbox.cli import main
from billing_sandbox.observe.ratelimits import InvalidRateLimit, Limit, RateLimiter, parse_limits
from billing_sandbox.settings import Settings
from tests.candid.helpers import WRITE_OFFS, auth
from tests.decoda.helpers import CREATE, PATIENT, creds
from tests.mycure.helpers import bearer

pytestmark = pytest.mark.anyio

LIST = "/billing/charge/list"
LIMITS = "/_sandbox/tenants/acme/rate-limits"
FROZEN = "2026-03-01T12:00:00+00:00"


async def freeze(client: httpx.AsyncClient, tenant: str = "acme") -> None:
    response = await client.post(f"/_sandbox/tenants/{tenant}/clock", json={"freezeAt": FROZEN})
    assert response.status_code == 200, response.text


async def advance(client: httpx.AsyncClient, seconds: int) -> None:
    response = await client.post("/_sandbox/tenants/acme/clock", json={"advanceSeconds": seconds})
    assert response.status_code == 200, response.text


async def limit(client: httpx.AsyncClient, **per_api: object) -> dict[str, object]:
    response = await client.put(LIMITS, json=per_api)
    assert response.status_code == 200, response.text
    limits: dict[str, object] = response.json()["limits"]
    return limits


async def test_a_burst_past_the_limit_gets_429_until_the_clock_allows_the_next_call(
    client: httpx.AsyncClient,
) -> None:
    await freeze(client)
    await limit(client, decoda={"requests": 3, "perSeconds": 30})  # one call per 10 s
    answers = [await client.get(LIST, headers=creds()) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert refused.headers["retry-after"] == "10"
    assert "3 calls per 30 s" in refused.json()["detail"]
    # Decoda's documented headers, on every answer while a limit applies.
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    reset = datetime.fromtimestamp(int(answers[2].headers["x-ratelimit-reset"]), UTC)
    assert reset == datetime.fromisoformat(FROZEN) + timedelta(seconds=30)
    # A frozen clock refills nothing; 9 s is not enough; 10 s lets one call through.
    await advance(client, 9)
    assert (await client.get(LIST, headers=creds())).status_code == 429
    await advance(client, 1)
    assert (await client.get(LIST, headers=creds())).status_code == 200
    assert (await client.get(LIST, headers=creds())).status_code == 429


async def test_other_tenants_and_other_apis_are_unaffected(client: httpx.AsyncClient) -> None:
    await freeze(client)
    await limit(client, decoda={"requests": 1, "perSeconds": 60})
    assert (await client.get(LIST, headers=creds())).status_code == 200
    assert (await client.get(LIST, headers=creds())).status_code == 429
    other = await client.get(LIST, headers=creds("globex"))
    assert other.status_code == 200
    assert "x-ratelimit-limit" not in other.headers
    candid = await client.get(WRITE_OFFS, headers=await auth(client))
    assert candid.status_code == 200


async def test_a_limit_of_one_call_says_one_call(client: httpx.AsyncClient) -> None:
    await freeze(client)
    await limit(client, decoda={"requests": 1, "perSeconds": 60})
    assert (await client.get(LIST, headers=creds())).status_code == 200
    refused = await client.get(LIST, headers=creds())
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": "rate limit exceeded: 1 call per 60 s for this tenant; retry after 60 s"
    }


async def test_a_refused_write_changes_nothing(client: httpx.AsyncClient) -> None:
    await freeze(client)
    before = (await client.get(LIST, headers=creds())).json()
    await limit(client, decoda={"requests": 1, "perSeconds": 60})
    body = {"patientId": PATIENT, "totalOutstanding": 100}
    assert (await client.post(CREATE, json=body, headers=creds())).status_code == 200
    refused = await client.post(CREATE, json=body, headers=creds())
    assert refused.status_code == 429
    await limit(client, decoda="off")
    after = (await client.get(LIST, headers=creds())).json()
    assert len(after) == len(before) + 1


async def test_each_api_answers_429_in_its_own_envelope(client: httpx.AsyncClient) -> None:
    await freeze(client)
    candid_headers = await auth(client)
    mycure_headers = await bearer(client, "ana@acme")
    await limit(
        client,
        candid={"requests": 1, "perSeconds": 60},
        mycure={"requests": 1, "perSeconds": 60},
    )
    assert (await client.get(WRITE_OFFS, headers=candid_headers)).status_code == 200
    candid = await client.get(WRITE_OFFS, headers=candid_headers)
    assert candid.status_code == 429
    assert candid.json()["errorName"] == "TooManyRequestsError"
    assert candid.headers["retry-after"] == "60"
    assert "x-ratelimit-limit" not in candid.headers
    assert (await client.get("/billing-soas", headers=mycure_headers)).status_code == 200
    mycure = await client.get("/billing-soas", headers=mycure_headers)
    assert mycure.status_code == 429
    assert (mycure.json()["name"], mycure.json()["className"]) == (
        "TooManyRequests",
        "too-many-requests",
    )


async def test_limits_are_shown_switched_off_and_inherited(client: httpx.AsyncClient) -> None:
    shown = await limit(client, decoda={"requests": 5, "perSeconds": 10})
    assert shown["decoda"] == {"limit": {"requests": 5, "perSeconds": 10}, "source": "tenant"}
    assert shown["candid"] == {"limit": None, "source": "server"}
    assert (await client.get(LIMITS)).json()["limits"] == shown
    shown = await limit(client, decoda=None)
    assert shown["decoda"] == {"limit": None, "source": "server"}
    bad = await client.put(LIMITS, json={"decoda": {"requests": 0, "perSeconds": 10}})
    assert bad.status_code == 422, bad.text
    unknown = await client.put(LIMITS, json={"stripe": "off"})
    assert unknown.status_code == 422, unknown.text


class TestTheServersSetting:
    """`--rate-limit decoda=2/60`, for every tenant."""

    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(rate_limits=("decoda=2/60",))

    async def test_it_applies_to_every_tenant_and_a_tenant_can_opt_out(
        self, client: httpx.AsyncClient
    ) -> None:
        for tenant in ("acme", "globex"):
            await freeze(client, tenant)
            statuses = [
                (await client.get(LIST, headers=creds(tenant))).status_code for _ in range(3)
            ]
            assert statuses == [200, 200, 429]
        await limit(client, decoda="off")
        assert (await client.get(LIST, headers=creds())).status_code == 200
        assert (await client.get(LIST, headers=creds("globex"))).status_code == 429
        shown = (await client.get(LIMITS)).json()["limits"]["decoda"]
        assert shown == {"limit": None, "source": "tenant"}


def test_a_bucket_refills_at_its_rate_and_never_past_its_size() -> None:
    limiter = RateLimiter({"decoda": Limit(2, 10)})  # one call per 5 s, a burst of 2
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def refused(seconds: float) -> bool:
        quota = limiter.take("t", "decoda", start + timedelta(seconds=seconds))
        assert quota is not None
        return quota.refused

    assert [refused(0), refused(0), refused(0)] == [False, False, True]
    assert [refused(4.9), refused(5)] == [True, False]
    # A long wait fills the bucket to its size, no more.
    assert [refused(1000), refused(1000), refused(1000)] == [False, False, True]
    assert limiter.take("t", "candid", start) is None


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("decoda", "is not <api>=<requests>/<seconds>"),
        ("decoda=5", "is not <api>=<requests>/<seconds>"),
        ("stripe=5/10", "names no API"),
        ("decoda=0/10", "at least 1"),
    ],
)
def test_a_bad_rate_limit_setting_is_refused_saying_why(spec: str, problem: str) -> None:
    with pytest.raises(InvalidRateLimit, match=problem):
        parse_limits([spec], ["candid", "decoda", "mycure"])


def test_serve_with_a_bad_rate_limit_exits_2_saying_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--rate-limit", "decoda=lots"]) == 2
    assert "decoda=lots" in capsys.readouterr().err
