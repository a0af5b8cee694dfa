"""MYCURE find: every Feathers operator in plain, bracket and `#`-tagged form, through HTTP.

The `#`-tagged strings are exactly what `@mycure/sdk-js` 5.33.3 sends: they were captured
from the SDK's own request handler (`service.find(query, params)` with a recording `fetch`),
percent-encoding and all. Each row is checked against a plain-Python oracle over the whole
seeded organisation, and the oracle must select some records but not all of them, so a row
whose filter did nothing would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.mycure.helpers import FACILITY, assert_feathers, bearer

pytestmark = pytest.mark.anyio

Record = dict[str, Any]
# Bounds equal to fixture `createdAt`s (5a01 and 5a03 at LOW, 5a04 at HIGH), so that each
# comparison is tested on its boundary.
LOW, HIGH = 1_767_225_600_000, 1_767_232_800_000


def finalized(r: Record) -> bool:
    return "finalizedAt" in r


def created_in(r: Record) -> bool:
    return bool(LOW < r["createdAt"] <= HIGH)


def created_from(r: Record) -> bool:
    return bool(LOW <= r["createdAt"] < HIGH)


def every_kind(r: Record) -> bool:
    return True


def says_please(r: Record) -> bool:
    return bool(r.get("note", "").startswith("Please"))


def bills_invoice_b001(r: Record) -> bool:
    return "5eb00000000000000000b001" in r.get("invoices", [])


# (query string, oracle): each operator in the forms clients send.
FILTERS: list[tuple[str, Callable[[Record], bool]]] = [
    # equality
    ("type=organization", lambda r: r["type"] == "organization"),
    (f"facility={FACILITY}", lambda r: r["facility"] == FACILITY),
    ("paymentTerms=30", lambda r: r.get("paymentTerms") == 30),
    ("paymentTerms=%2330", lambda r: r.get("paymentTerms") == 30),
    # null (a bare key) matches a missing field
    ("finalizedAt", lambda r: not finalized(r)),
    # $in / $nin
    ("type[$in]=organization", lambda r: r["type"] == "organization"),
    ("type[$in][0]=organization&type[$in][1]=insurance-contract", every_kind),
    ("paymentTerms[$in][0]=15&paymentTerms[$in][1]=60", lambda r: r.get("paymentTerms") in (15, 60)),  # noqa: E501
    ("type%5B%24in%5D%5B0%5D=organization&type%5B%24in%5D%5B1%5D=insurance-contract", every_kind),
    ("type[$nin][0]=organization", lambda r: r["type"] != "organization"),
    ("type%5B%24nin%5D%5B0%5D=organization", lambda r: r["type"] != "organization"),
    # $gt / $lte and $gte / $lt
    (f"createdAt[$gt]={LOW}&createdAt[$lte]={HIGH}", created_in),
    (f"createdAt%5B%24gt%5D={LOW}&createdAt%5B%24lte%5D={HIGH}", created_in),
    (f"createdAt%5B%24gt%5D=%23{LOW}&createdAt%5B%24lte%5D=%23{HIGH}", created_in),
    (f"createdAt[$gte]={LOW}&createdAt[$lt]={HIGH}", created_from),
    (f"createdAt%5B%24gte%5D=%23{LOW}&createdAt%5B%24lt%5D=%23{HIGH}", created_from),
    # $ne
    ("customerType[$ne]=insurance", lambda r: r["customerType"] != "insurance"),
    ("customerType%5B%24ne%5D=insurance", lambda r: r["customerType"] != "insurance"),
    ("paymentTerms[$ne]=%2330", lambda r: r.get("paymentTerms") != 30),
    # $exists
    ("finalizedAt[$exists]=true", finalized),
    ("finalizedAt%5B%24exists%5D=%23true", finalized),
    ("finalizedAt[$exists]=false", lambda r: not finalized(r)),
    ("finalizedAt%5B%24exists%5D=%23false", lambda r: not finalized(r)),
    # $or / $and
    (
        "$or[0][type]=organization&$or[1][finalizedAt][$exists]=true",
        lambda r: r["type"] == "organization" or finalized(r),
    ),
    (
        "%24or%5B0%5D%5Btype%5D=organization&%24or%5B1%5D%5BfinalizedAt%5D%5B%24exists%5D=%23true",
        lambda r: r["type"] == "organization" or finalized(r),
    ),
    (
        "$and[0][paymentTerms][$gte]=30&$and[1][coveragePaymentMethod]=prepaid",
        lambda r: r.get("paymentTerms", -1) >= 30 and r.get("coveragePaymentMethod") == "prepaid",
    ),
    (
        "%24and%5B0%5D%5BpaymentTerms%5D%5B%24gte%5D=%2330"
        "&%24and%5B1%5D%5BcoveragePaymentMethod%5D=prepaid",
        lambda r: r.get("paymentTerms", -1) >= 30 and r.get("coveragePaymentMethod") == "prepaid",
    ),
    # $regex with $options
    ("note[$regex]=^please&note[$options]=i", says_please),
    ("note%5B%24regex%5D=%5Eplease&note%5B%24options%5D=i", says_please),
    # an array field matches when it contains the value (MongoDB)
    ("invoices=5eb00000000000000000b001", bills_invoice_b001),
]  # fmt: skip


async def find(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> Any:
    response = await client.get(f"/billing-soas/?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
async def headers(client: httpx.AsyncClient) -> dict[str, str]:
    return await bearer(client)


@pytest.fixture
async def every(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Record]:
    records: list[Record] = await find(client, headers, "$limit=1000")
    assert len(records) > 20
    return records


@pytest.mark.parametrize(("query", "oracle"), FILTERS, ids=[q for q, _ in FILTERS])
async def test_filter(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    every: list[Record],
    query: str,
    oracle: Callable[[Record], bool],
) -> None:
    expected = [r for r in every if oracle(r)]
    assert expected, "the oracle selects nothing: this row would prove nothing"
    found = await find(client, headers, f"{query}&$limit=1000")
    assert found == expected
    if len(expected) == len(every):
        assert query.startswith("type") and "insurance-contract" in query  # $in of every kind


async def test_an_empty_in_list_matches_nothing(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert await find(client, headers, "invoices%5B%24in%5D=%23%5B%5D") == []
    assert await find(client, headers, "invoices[$in]=#[]") == []


@pytest.mark.parametrize(
    "query", ["$limit=5&$skip=2", "%24limit=%235&%24skip=%232", "$skip=2&$limit=5"]
)
async def test_limit_and_skip(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record], query: str
) -> None:
    assert await find(client, headers, query) == every[2:7]


@pytest.mark.parametrize(
    "query",
    [
        "$sort[createdAt]=-1&$sort[type]=1",
        "%24sort%5BcreatedAt%5D=%23-1&%24sort%5Btype%5D=%231",
    ],
)
async def test_sort_by_several_keys(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record], query: str
) -> None:
    expected = sorted(every, key=lambda r: r["type"])
    expected.sort(key=lambda r: r["createdAt"], reverse=True)
    assert await find(client, headers, f"{query}&$limit=1000") == expected


async def test_sort_by_a_key_some_records_lack_puts_them_first(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record]
) -> None:
    found = await find(client, headers, "$sort[note]=1&$limit=1000")
    missing = [r for r in every if "note" not in r]
    assert found[: len(missing)] == missing  # missing sorts before any string, order kept
    notes = [r["note"] for r in found[len(missing) :]]
    assert notes == sorted(notes) and notes


@pytest.mark.parametrize(
    "query",
    [
        "$select[0]=type&$select[1]=customer",
        "%24select%5B0%5D=type&%24select%5B1%5D=customer",
        "$select=type&$select=customer",
        "$select[]=type&$select[]=customer",
    ],
)
async def test_select_keeps_id_and_the_named_fields(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record], query: str
) -> None:
    found = await find(client, headers, f"{query}&$limit=1000")
    assert found == [{"id": r["id"], "type": r["type"], "customer": r["customer"]} for r in every]


async def test_the_sdk_find_one_query(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record]
) -> None:
    found = await find(client, headers, "type=organization&%24limit=%231")
    assert found == [next(r for r in every if r["type"] == "organization")]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("type[$foo]=x", "Invalid query parameter $foo"),
        ("$foo=1", "Invalid query parameter $foo"),
        ("$populate[invoices][service]=billing-invoices", "$populate"),
        ("$limit=ten", "$limit"),
        ("$limit=-1", "$limit"),
        ("$skip=%23-5", "$skip"),
        ("$sort[createdAt]=up", "$sort"),
        ("createdAt[$gt]=soon", "createdAt"),
        ("note[$regex]=(", "note"),
        ("$or=organization", "$or"),
    ],
)
async def test_a_bad_query_is_400_saying_what_is_wrong(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, says: str
) -> None:
    response = await client.get(f"/billing-soas?{query}", headers=headers)
    assert_feathers(response, 400, "BadRequest", says)


async def test_select_of_no_field_but_id_as_the_sdk_tags_it(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record]
) -> None:
    found = await find(client, headers, "$select=%23%5B%5D&$limit=1000")
    assert found == [{"id": r["id"]} for r in every]


async def test_an_empty_select_beside_names_adds_nothing(
    client: httpx.AsyncClient, headers: dict[str, str], every: list[Record]
) -> None:
    found = await find(client, headers, "$select=type&$select=%23%5B%5D&$limit=1000")
    assert found == [{"id": r["id"], "type": r["type"]} for r in every]
