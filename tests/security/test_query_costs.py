"""No request can hold the server: a MYCURE find's regex runs in linear time and every other
client-sized cost of a find is bounded, each limit a Feathers BadRequest past it."""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from billing_sandbox.apis.mycure.limits import Tally
from billing_sandbox.apis.mycure.query import _choices, _field_equals, _field_in, compile_find
from billing_sandbox.apis.mycure.querystring import parse
from billing_sandbox.apis.mycure.regex import without_layout
from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.errors import BadRequest
from billing_sandbox.settings import Settings
from tests.mycure.helpers import FACILITY, HMO, assert_feathers, bearer, create
from tests.support.processes import serving

pytestmark = pytest.mark.anyio

# Python's `re` backtracks through 2**28 ways to split these a's before it gives up on the
# `!` (about 18 s here; 2**25 took 2.3 s); a linear-time engine reads them once. No `$` in
# NESTED: RE2 would read an end-anchored pattern backwards from the end and stop at the `!`.
PATHOLOGICAL = "a" * 28 + "!"
NESTED = "(a+)+b"
# Seconds: a find takes milliseconds, so a loaded CI machine stays far inside this, and
# backtracking stays far outside it.
FAST = 2.0


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await bearer(client)


async def every(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    """The organisation's statements: what a refused find must leave as it was."""
    response = await client.get("/billing-soas?$limit=1000", headers=headers)
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return found


async def refused(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, message: str
) -> None:
    """The find is Feathers' BadRequest with exactly `message`, and nothing changed."""
    before = await every(client, headers)
    response = await client.get(f"/billing-soas?{query}", headers=headers)
    body = assert_feathers(response, 400, "BadRequest")
    assert body["className"] == "bad-request"
    assert body["message"] == message
    assert await every(client, headers) == before


def regex(pattern: str, options: str = "", field: str = "note") -> str:
    query = f"{field}[$regex]={quote(pattern, safe='')}"
    return f"{query}&{field}[$options]={options}" if options else query


async def timed_find(
    client: httpx.AsyncClient, headers: dict[str, str], query: str
) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    response = await client.get(f"/billing-soas?{query}&$limit=1000", headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return elapsed, found


# ---- $regex: linear time, RE2's options, and what RE2 cannot run ----


async def test_nested_quantifiers_answer_in_milliseconds(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await create(client, headers, note=PATHOLOGICAL)
    elapsed, found = await timed_find(client, headers, regex(NESTED))
    assert found == []
    assert elapsed < FAST, f"{elapsed:.2f} s"


@pytest.mark.parametrize(
    ("pattern", "options", "notes"),
    [
        # i: case folded
        ("^(?:(a+)+$|please)", "i", ["PLEASE pay", "please pay"]),
        # m: ^ and $ at every line
        ("^(?:(a+)+$|please)", "m", ["first line\nplease pay", "please pay"]),
        # s: . crosses a newline
        ("^(?:(a+)+$|first.line)", "s", ["first line\nplease pay", "first\nline"]),
        # x: layout and comments dropped, outside classes and escapes
        ("^ (?: (a+)+ $ | please [ ]pay ) # the pay notes", "x", ["please pay"]),
        ("^(?:(a+)+$|please)", "imsx", ["PLEASE pay", "first line\nplease pay", "please pay"]),
    ],
)
async def test_options_run_on_the_linear_time_matcher(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pattern: str,
    options: str,
    notes: list[str],
) -> None:
    for note in ["PLEASE pay", "first line\nplease pay", "first\nline", "please pay", PATHOLOGICAL]:
        await create(client, headers, note=note, externalSOAId="options-test")
    query = f"{regex(pattern, options)}&externalSOAId=options-test"
    elapsed, found = await timed_find(client, headers, query)
    assert elapsed < FAST, f"{elapsed:.2f} s"
    assert sorted(r["note"] for r in found) == sorted(notes)


@pytest.mark.parametrize(
    ("pattern", "construct", "fragment"),
    [
        ("(a)\\1", "a backreference", "\\1"),
        ("(?P<n>a)(?P=n)", "a named backreference", "(?P"),
        ("(?<n>a)\\k<n>", "a named backreference", "\\k"),
        ("a(?=b)", "a lookahead", "(?="),
        ("a(?!b)", "a negative lookahead", "(?!"),
        ("(?<=a)b", "a lookbehind", "(?<="),
        ("(?<!a)b", "a negative lookbehind", "(?<!"),
        ("a++", "a possessive quantifier", "++"),
        ("(?>a+)b", "an atomic group", "(?>"),
        ("(a|b(?R))", "a recursion", "(?R"),
        ("(a)(?(1)b|c)", "a conditional group", "(?("),
        ("a{1001}", "a repetition count over 1000 (nested counts multiply)", "{1001}"),
    ],
)
async def test_a_construct_re2_cannot_run_is_400_naming_it(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pattern: str,
    construct: str,
    fragment: str,
) -> None:
    await refused(
        client,
        headers,
        regex(pattern),
        f"note[$regex] uses {construct} ({fragment}), which the sandbox's linear-time "
        "matcher does not run",
    )


async def test_an_end_or_final_newline_anchor_is_400_saying_what_to_write(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await refused(
        client,
        headers,
        regex("pay\\Z"),
        "note[$regex] uses an end-or-before-a-final-newline anchor (\\Z), which the "
        "sandbox's linear-time matcher does not run: use \\z or $ (to RE2, both are the "
        "very end)",
    )


async def test_a_pattern_too_large_for_the_matcher_is_400(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await refused(
        client,
        headers,
        regex(".{1000}"),
        "note[$regex] is too large for the sandbox's linear-time matcher (8004 RE2 "
        "instructions; at most 2000 instructions): use smaller repetition counts or fewer "
        "Unicode classes",
    )


async def test_a_find_past_the_matching_budget_is_400(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    """`\\pL+` is 1201 RE2 instructions: over 14 KB of notes it could cost more than the
    2**24 instruction-bytes a find may spend, whatever the machine."""
    await create(client, headers, note="x" * 20_000)
    notes = sum(len(r.get("note", "").encode()) for r in await every(client, headers))
    await refused(
        client,
        headers,
        regex("\\pL+"),
        f"note[$regex] would run 1201 RE2 instructions over {notes} bytes of note, past the "
        "16777216 (instructions times bytes) the sandbox spends matching in one find: use a "
        "simpler pattern",
    )


def test_random_patterns_never_answer_500_and_never_take_long() -> None:
    """Whatever the pattern and options: 200 or Feathers' 400, in milliseconds."""
    clock = ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    app = create_app(Settings(), clock=clock)
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x")
    run = loop.run_until_complete
    try:
        headers = run(bearer(client))
        run(create(client, headers, note=PATHOLOGICAL))
        pieces = st.sampled_from(
            ["a", "b", "a+", "(a+)+", "(a|aa)*", ".*", "$", "^", "\\1", "(?=a)", "(?<=a)",
             "(?P<n>a)", "(?P=n)", "[a-z]", "[^]]", "\\pL", "\\w", "\\Z", "\\z", "{2}",
             "{1001}", "*", "+", "?", "++", "(", ")", "|", "\\", "#", " ", "\n", "(?i)", "(?x)",
             "\\Q", "\\E", "é", "\x00"]
        )  # fmt: skip

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(pieces, max_size=8).map("".join), st.text("imsx", max_size=4))
        @example(NESTED, "")
        @example("(a|aa)*$", "x")
        def check(pattern: str, options: str) -> None:
            query = regex(pattern, options)
            started = time.perf_counter()
            response = run(client.get(f"/billing-soas?{query}", headers=headers))
            elapsed = time.perf_counter() - started
            assert response.status_code in (200, 400), (pattern, options, response.text)
            if response.status_code == 400:
                assert_feathers(response, 400, "BadRequest", "note[$")
            assert elapsed < FAST, (pattern, options, elapsed)

        check()
    finally:
        run(client.aclose())
        loop.close()


@pytest.mark.parametrize(
    ("pattern", "read"),
    [
        ("a b\tc\n", "abc"),
        ("a # a comment\nb", "ab"),
        ("[ #]x", "[ #]x"),  # a class keeps its spaces and `#`
        ("[] ]x", "[] ]x"),  # `]` first in a class is literal
        ("[^] ]x", "[^] ]x"),
        ("[[:alpha:] ]x", "[[:alpha:] ]x"),
        ("a\\ b\\#c", "a\\ b\\#c"),  # escaped, kept
        ("\\Q a # b\\E c", "\\Q a # b\\Ec"),  # quoted, kept
    ],
)
def test_x_drops_layout_by_pcres_rule(pattern: str, read: str) -> None:
    assert without_layout(pattern) == read


# ---- every other client-sized cost of a find ----


async def test_in_and_nin_lists_hold_at_most_500_values(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    # 299 types no statement has, and organization: 300; with 200 customers, 500.
    ins = "&".join(f"type[$in][{index}]=t{index}" for index in range(299))
    nins = "&".join(f"customer[$nin][{index}]=c{index}" for index in range(200))
    query = f"{ins}&type[$in][299]=organization&{nins}"
    elapsed, found = await timed_find(client, headers, query)
    assert found == [r for r in await every(client, headers) if r["type"] == "organization"]
    assert elapsed < FAST
    await refused(
        client,
        headers,
        f"{query}&customer[$nin][200]={HMO}",
        "The query's $in and $nin lists hold more than 500 values (the limit is crossed at "
        "customer[$nin]); the sandbox accepts at most 500 in one find",
    )


@pytest.mark.parametrize(
    ("query", "crossed_at"),
    [
        ("&".join(f"field{index}=x" for index in range(101)), "field100"),
        ("&".join(f"$or[{index}][type]=t{index}" for index in range(51)), "$or[50]"),
        (
            "&".join(f"createdAt[$in][{index}][0]=%23{index}" for index in range(101)),
            "createdAt[$in]",
        ),
    ],
    ids=["fields", "or-branches", "array-values"],
)
async def test_a_find_runs_at_most_100_conditions(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, crossed_at: str
) -> None:
    await refused(
        client,
        headers,
        query,
        f"The query has more than 100 conditions (the limit is crossed at {crossed_at}); the "
        "sandbox runs at most 100 in one find",
    )


def test_or_and_nested_past_3_levels_are_refused() -> None:
    """qs's depth (5 brackets) stops a query string at three levels (the deepest's field then
    holds the brackets past the fifth: `[facility]`); a query that gets past the parser any
    other way is still held to three."""
    deepest = parse(f"$or[0][$and][0][$or][0][facility]={FACILITY}")
    assert deepest == {"$or": [{"$and": [{"$or": [{"[facility]": FACILITY}]}]}]}
    compile_find(deepest, default_limit=10, max_limit=10, field_types={})
    query: dict[str, Any] = {"type": "organization"}
    for level in range(4):
        query = {"$or" if level % 2 else "$and": [query]}
    with pytest.raises(BadRequest) as caught:
        compile_find(query, default_limit=10, max_limit=10, field_types={})
    assert caught.value.message == (
        "$or[0][$and][0][$or][0][$and] nests $or and $and 4 deep; the sandbox accepts at most "
        "3 levels"
    )


async def test_sort_takes_at_most_32_keys_as_mongodb_does(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    keys = [f"$sort[field{index}]=1" for index in range(32)]
    await timed_find(client, headers, "&".join(keys))
    await refused(
        client,
        headers,
        "&".join([*keys, "$sort[createdAt]=-1"]),
        "$sort has 33 keys; the sandbox, like MongoDB, sorts on at most 32",
    )


async def test_select_names_at_most_100_fields(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await refused(
        client,
        headers,
        "&".join(f"$select[]=field{index}" for index in range(101)),
        "$select names 101 fields; the sandbox accepts at most 100",
    )


async def test_a_date_past_javascripts_range_is_400(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    where = "createdAt[$gt][$coerce]"
    await refused(
        client,
        headers,
        f"{where}[type]=date&{where}[value]={'9' * 400}",
        f"{where}[value] must be an ISO-8601 date or epoch milliseconds, got '{'9' * 56}...",
    )


def test_parameters_past_qs_limit_are_never_split_off() -> None:
    """A million `&` cost what a thousand do: qs drops the parts past its limit, unread."""
    query = "&" * 2_000_000 + "type=organization"
    tracemalloc.start()
    try:
        parse(query)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak


@pytest.fixture
async def large(anyio_backend: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """An organisation of 2000 statements (`--records 10000`)."""
    clock = ManualClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    app: Starlette = create_app(Settings(records=10_000), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as client:
        yield client, await bearer(client)


async def test_a_find_at_every_limit_over_a_large_tenant_stays_fast(
    large: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, headers = large
    query = "&".join(
        [f"$sort[{key}]=-1" for key in ("note", "customer", "invoices", "type", "facility")]
        + [f"invoices[$nin][{index}]=i{index}" for index in range(500)]
        + [f"$or[{index}][note][$ne]=n{index}" for index in range(45)]
        + [f"$select[{index}]=field{index}" for index in range(95)]
        + [regex("^[0-9a-f]{24}$", field="customer")]
    )
    elapsed, found = await timed_find(client, headers, query)
    assert len(found) == 1000
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_in_by_hash_is_mongo_equality() -> None:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-2, 2), st.floats(-2, 2), st.sampled_from("ab")
    )
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)

    @settings(max_examples=400, deadline=None)
    @given(values, st.lists(values, max_size=4), st.booleans())
    def check(value: Any, options: list[Any], present: bool) -> None:
        record = {"field": value} if present else {}
        choices = _choices(options, "field[$in]", Tally())
        general = any(_field_equals(record, "field", option) for option in options)
        assert _field_in(record, field="field", choices=choices) == general

    check()


# ---- a real server: a health call answers while the worst pattern runs ----


def test_a_health_call_answers_at_once_while_the_worst_regex_runs() -> None:
    with serving("--records", "20") as (base, _):
        with httpx.Client(base_url=base, timeout=5) as client:
            signed = client.post(
                "/authentication",
                json={"strategy": "local", "email": "ana@clinic-a.test", "password": "sandbox"},
            )
            headers = {"Authorization": f"Bearer {signed.json()['accessToken']}"}
            body = {"facility": FACILITY, "type": "organization", "customer": HMO}
            # Half a megabyte of a's and a `!`: Python's `re` would never finish this one.
            note = "a" * 500_000 + "!"
            created = client.post("/billing-soas", json={**body, "note": note}, headers=headers)
            assert created.status_code == 201, created.text
        answers: dict[str, Any] = {"seconds": []}

        def find() -> None:
            """The worst find, again and again, so the health call lands among them."""
            with httpx.Client(base_url=base, timeout=5) as slow:
                for _ in range(10):
                    started = time.perf_counter()
                    try:
                        answers["find"] = slow.get(
                            f"/billing-soas?{regex(NESTED)}", headers=headers
                        )
                    except httpx.HTTPError as error:  # the server is held: the test fails
                        answers["error"] = error
                        return
                    answers["seconds"].append(time.perf_counter() - started)

        finding = threading.Thread(target=find, daemon=True)
        finding.start()
        time.sleep(0.02)  # let the finds start
        started = time.perf_counter()
        health = httpx.get(f"{base}/_sandbox/health", timeout=2)
        health_seconds = time.perf_counter() - started
        finding.join(timeout=10)
        assert health.status_code == 200
        # Bounds far from both sides: a loaded CI machine stays well inside them, and a held
        # event loop (backtracking) would not answer within the clients' timeouts at all.
        assert health_seconds < 1.0, f"{health_seconds:.2f} s"
        assert "error" not in answers and len(answers["seconds"]) == 10, answers
        assert answers["find"].status_code == 200, answers["find"].text
        assert answers["find"].json() == []
        # Tens of milliseconds through HTTP, for half a megabyte searched.
        assert max(answers["seconds"]) < 1.0, answers["seconds"]
