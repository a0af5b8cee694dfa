"""MYCURE queries without HTTP: qs-style parsing, SDK tags, and Feathers/Mongo find semantics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from billing_sandbox.apis.mycure.query import Find, compile_find, run_find
from billing_sandbox.apis.mycure.querystring import PARAMETER_LIMIT, parse
from billing_sandbox.errors import BadRequest

FIELD_TYPES = {"createdAt": "number", "paymentTerms": "number", "type": "string"}

RECORDS: list[dict[str, Any]] = [
    {"id": "a", "type": "organization", "createdAt": 100, "paymentTerms": 30, "note": "Due now"},
    {"id": "b", "type": "insurance-contract", "createdAt": 200, "tags": ["vip", "new"]},
    {"id": "c", "type": "organization", "createdAt": 300, "finalizedAt": None, "note": "paid"},
    {"id": "d", "type": "insurance", "createdAt": 400, "finalizedAt": 5, "paymentTerms": 60},
]


def compiled(raw_query: str, *, default_limit: int = 10, max_limit: int = 50) -> Find:
    return compile_find(
        parse(raw_query),
        default_limit=default_limit,
        max_limit=max_limit,
        field_types=FIELD_TYPES,
    )


def found(raw_query: str, records: Sequence[Mapping[str, Any]] = RECORDS) -> list[Any]:
    """The ids of the page a query string returns over `records` (default: RECORDS)."""
    _, page = run_find(compiled(raw_query), records)
    return [record["id"] for record in page]


def bad_request(raw_query: str) -> str:
    with pytest.raises(BadRequest) as caught:
        compiled(raw_query)
    return caught.value.message


# --- querystring.parse ---

SDK_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("type=organization", {"type": "organization"}),
    ("%24limit=%2320&%24skip=%2340", {"$limit": 20, "$skip": 40}),
    (
        "%24sort%5BcreatedAt%5D=%23-1&%24sort%5Btype%5D=%231",
        {"$sort": {"createdAt": -1, "type": 1}},
    ),
    ("%24select%5B0%5D=type&%24select%5B1%5D=customer", {"$select": ["type", "customer"]}),
    (
        "type%5B%24in%5D%5B0%5D=organization&type%5B%24in%5D%5B1%5D=insurance-contract",
        {"type": {"$in": ["organization", "insurance-contract"]}},
    ),
    ("type%5B%24nin%5D%5B0%5D=organization", {"type": {"$nin": ["organization"]}}),
    (
        "createdAt%5B%24gt%5D=%231564661697125&createdAt%5B%24lte%5D=%231600000000000",
        {"createdAt": {"$gt": 1564661697125, "$lte": 1600000000000}},
    ),
    ("createdAt%5B%24gte%5D=%231&createdAt%5B%24lt%5D=%232", {"createdAt": {"$gte": 1, "$lt": 2}}),
    ("customerType%5B%24ne%5D=insurance", {"customerType": {"$ne": "insurance"}}),
    ("finalizedAt%5B%24exists%5D=%23true", {"finalizedAt": {"$exists": True}}),
    ("finalizedAt%5B%24exists%5D=%23false", {"finalizedAt": {"$exists": False}}),
    (
        "%24or%5B0%5D%5Btype%5D=organization&%24or%5B1%5D%5BfinalizedAt%5D%5B%24exists%5D=%23true",
        {"$or": [{"type": "organization"}, {"finalizedAt": {"$exists": True}}]},
    ),
    (
        "%24and%5B0%5D%5BpaymentTerms%5D%5B%24gte%5D=%2330"
        "&%24and%5B1%5D%5BcoveragePaymentMethod%5D=prepaid",
        {"$and": [{"paymentTerms": {"$gte": 30}}, {"coveragePaymentMethod": "prepaid"}]},
    ),
    ("invoices%5B%24in%5D=%23%5B%5D", {"invoices": {"$in": []}}),
    ("finalizedAt", {"finalizedAt": None}),
    ("paymentTerms=%2330", {"paymentTerms": 30}),
    (
        "note%5B%24regex%5D=%5Edue&note%5B%24options%5D=i",
        {"note": {"$regex": "^due", "$options": "i"}},
    ),
    ("type=organization&%24limit=%231", {"type": "organization", "$limit": 1}),
]


@pytest.mark.parametrize(("raw_query", "expected"), SDK_QUERIES)
def test_parses_what_the_sdk_sends(raw_query: str, expected: dict[str, Any]) -> None:
    assert parse(raw_query) == expected


def test_sort_keys_keep_their_order() -> None:
    assert list(parse("$sort[type]=1&$sort[createdAt]=-1")["$sort"]) == ["type", "createdAt"]


def test_untagged_values_stay_text() -> None:
    assert parse("$limit=10&createdAt[$gt]=1564661697125&$sort[createdAt]=-1") == {
        "$limit": "10",
        "createdAt": {"$gt": "1564661697125"},
        "$sort": {"createdAt": "-1"},
    }


@pytest.mark.parametrize(
    ("raw_query", "expected"),
    [
        ("a=", {"a": ""}),
        ("a=b=c", {"a": "b=c"}),
        ("a=x+y%20z", {"a": "x y z"}),
        ("&&a=1&", {"a": "1"}),
        ("=x&b=1", {"b": "1"}),
        ("a[b][c]=v", {"a": {"b": {"c": "v"}}}),
        ("a[1]=b&a[0]=a", {"a": ["a", "b"]}),
        ("a[5]=x", {"a": ["x"]}),
        ("a[20]=x", {"a": ["x"]}),
        ("a[21]=x", {"a": {"21": "x"}}),
        ("a[01]=x", {"a": {"01": "x"}}),
        ("a[]=x&a[]=y", {"a": ["x", "y"]}),
        ("a=x&a=y&a=z", {"a": ["x", "y", "z"]}),
        ("a[0]=x&a[b]=y", {"a": {"0": "x", "b": "y"}}),
        ("a[0][b]=1&a[0][c]=2&a[1][b]=3", {"a": [{"b": "1", "c": "2"}, {"b": "3"}]}),
        ("a[b]=1&a=c", {"a": {"b": "1", "c": True}}),
        ("a[b][c][d][e][f][g][h]=1", {"a": {"b": {"c": {"d": {"e": {"f": {"[g][h]": "1"}}}}}}}),
    ],
)
def test_follows_qs_parse(raw_query: str, expected: dict[str, Any]) -> None:
    assert parse(raw_query) == expected


def test_parameters_past_the_limit_are_dropped() -> None:
    raw_query = "&".join(f"p{index}=1" for index in range(PARAMETER_LIMIT + 5))
    assert len(parse(raw_query)) == PARAMETER_LIMIT


@pytest.mark.parametrize(
    ("tagged", "expected"),
    [
        ("#0", 0),
        ("#-1", -1),
        ("#1.5", 1.5),
        ("#1e3", 1000.0),
        ("#-2.5E-1", -0.25),
        ("#true", True),
        ("#false", False),
        ("#[]", []),
        ("#", "#"),
        ("#abc", "#abc"),
        ("#1.", "#1."),
        ("#TRUE", "#TRUE"),
        ("#٣", "#٣"),
        ("1", "1"),
    ],
)
def test_decodes_sdk_tags(tagged: str, expected: Any) -> None:
    value = parse(f"v={tagged.replace('#', '%23')}")["v"]
    assert value == expected
    assert type(value) is type(expected)


def test_decodes_tags_inside_lists() -> None:
    assert parse("a[0]=%231&a[1]=x") == {"a": [1, "x"]}


@pytest.mark.parametrize(
    ("coerced", "expected"),
    [
        ("[type]=number&x[$gt][$coerce][value]=5", 5),
        ("[type]=number&x[$gt][$coerce][value]=-2.5", -2.5),
        ("[type]=date&x[$gt][$coerce][value]=1564661697125", 1564661697125),
        ("[type]=date&x[$gt][$coerce][value]=2019-08-01T12:14:57.125Z", 1564661697125),
        ("[type]=date&x[$gt][$coerce][value]=2019-08-01T20:14:57.125%2B08:00", 1564661697125),
        ("[type]=date&x[$gt][$coerce][value]=2019-08-01", 1564617600000),
    ],
)
def test_decodes_old_sdk_coerce(coerced: str, expected: int | float) -> None:
    assert parse(f"x[$gt][$coerce]{coerced}") == {"x": {"$gt": expected}}


@pytest.mark.parametrize(
    ("raw_query", "message"),
    [
        (
            "x[$coerce][type]=regex&x[$coerce][value]=a",
            "x[$coerce][type] 'regex' is not supported by the sandbox; use number or date",
        ),
        (
            "x[$coerce][type]=number&x[$coerce][value]=five",
            "x[$coerce][value] must be a number, got 'five'",
        ),
        (
            "x[$coerce][type]=date&x[$coerce][value]=yesterday",
            "x[$coerce][value] must be an ISO-8601 date or epoch milliseconds, got 'yesterday'",
        ),
        (
            "x[$coerce][type]=number",
            "x[$coerce] must stand alone and hold exactly [type] and [value]",
        ),
        (
            "x[$coerce][type]=number&x[$coerce][value]=1&x[other]=2",
            "x[$coerce] must stand alone and hold exactly [type] and [value]",
        ),
    ],
)
def test_rejects_bad_coerce(raw_query: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse(raw_query)
    assert caught.value.message == message


# --- matching ---


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("type=organization", ["a", "c"]),
        ("type=nothing", []),
        ("createdAt=%23200", ["b"]),
        ("createdAt=200", ["b"]),
        ("tags=vip", ["b"]),
        ("tags[0]=vip&tags[1]=new", ["b"]),
        ("tags[0]=new&tags[1]=vip", []),
        ("finalizedAt", ["a", "b", "c"]),
        ("type=organization&note=paid", ["c"]),
    ],
)
def test_equality(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


def test_equality_keeps_bools_apart_from_numbers() -> None:
    records = [{"id": "t", "flag": True}, {"id": "one", "flag": 1}]
    assert found("flag=%23true", records) == ["t"]
    assert found("flag=%231", records) == ["one"]


def test_untyped_field_text_does_not_equal_a_number() -> None:
    assert found("count=5", [{"id": "n", "count": 5}]) == []


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("type[$in][0]=organization&type[$in][1]=insurance", ["a", "c", "d"]),
        ("type[$in]=insurance", ["d"]),
        ("createdAt[$in][0]=100&createdAt[$in][1]=%23400", ["a", "d"]),
        ("tags[$in][0]=new", ["b"]),
        ("type[$in]=%23[]", []),
        ("type[$nin][0]=organization", ["b", "d"]),
        ("type[$nin]=%23[]", ["a", "b", "c", "d"]),
        ("tags[$nin][0]=vip", ["a", "c", "d"]),
    ],
)
def test_in_and_nin(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("type[$ne]=organization", ["b", "d"]),
        ("paymentTerms[$ne]=30", ["b", "c", "d"]),
        ("finalizedAt[$ne]", ["d"]),
    ],
)
def test_ne(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("createdAt[$lt]=300", ["a", "b"]),
        ("createdAt[$lte]=300", ["a", "b", "c"]),
        ("createdAt[$gt]=%23300", ["d"]),
        ("createdAt[$gte]=300", ["c", "d"]),
        ("createdAt[$gt]=100&createdAt[$lt]=400", ["b", "c"]),
        ("paymentTerms[$gte]=0", ["a", "d"]),
        ("note[$gte]=a", ["c"]),
        ("note[$lt]=a", ["a"]),
    ],
)
def test_comparisons(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


def test_comparisons_only_compare_the_same_type_class() -> None:
    records: list[dict[str, Any]] = [
        {"id": "n", "v": 5},
        {"id": "s", "v": "5"},
        {"id": "b", "v": True},
    ]
    assert found("v[$gte]=%230", records) == ["n"]
    assert found("v[$gte]=0", records) == ["s"]


def test_comparisons_match_any_item_of_an_array() -> None:
    records = [{"id": "x", "v": [1, 9]}, {"id": "y", "v": [1, 2]}]
    assert found("v[$gt]=%235", records) == ["x"]


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("finalizedAt[$exists]=%23true", ["c", "d"]),
        ("finalizedAt[$exists]=%23false", ["a", "b"]),
        ("finalizedAt[$exists]=true", ["c", "d"]),
        ("finalizedAt[$exists]=0", ["a", "b"]),
    ],
)
def test_exists(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("note[$regex]=%5Edue", []),
        ("note[$regex]=%5Edue&note[$options]=i", ["a"]),
        ("note[$regex]=a", ["c"]),
        ("tags[$regex]=%5En", ["b"]),
        ("createdAt[$regex]=1", []),
    ],
)
def test_regex(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("$or[0][type]=insurance&$or[1][finalizedAt][$exists]=%23true", ["c", "d"]),
        ("$or[0][createdAt]=100&$or[1][tags]=vip", ["a", "b"]),
        ("$and[0][type]=organization&$and[1][createdAt][$gt]=100", ["c"]),
        ("$or[0][$and][0][type]=organization&$or[0][$and][1][note]=paid&$or[1][id]=b", ["b", "c"]),
        ("$or[25][type]=insurance&$or[30][id]=a", ["a", "d"]),
        ("type=organization&$or[0][id]=c&$or[1][id]=d", ["c"]),
    ],
)
def test_or_and(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


# --- sort, select, paging ---


def test_no_sort_keeps_the_input_order() -> None:
    assert found("") == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("raw_query", "ids"),
    [
        ("$sort[createdAt]=-1", ["d", "c", "b", "a"]),
        ("$sort[createdAt]=%23-1", ["d", "c", "b", "a"]),
        ("$sort[type]=1&$sort[createdAt]=-1", ["d", "b", "c", "a"]),
        ("$sort[type]=-1&$sort[createdAt]=1", ["a", "c", "b", "d"]),
        ("$sort[type]=1", ["d", "b", "a", "c"]),
    ],
)
def test_sort(raw_query: str, ids: list[str]) -> None:
    assert found(raw_query) == ids


MIXED: list[dict[str, Any]] = [
    {"id": "bool", "v": False},
    {"id": "list", "v": [3, "z"]},
    {"id": "dict", "v": {"k": 1}},
    {"id": "text", "v": "a"},
    {"id": "null", "v": None},
    {"id": "num", "v": 2},
    {"id": "missing"},
    {"id": "empty", "v": []},
]


def test_sort_orders_types_as_mongo_does() -> None:
    assert found("$sort[v]=1", MIXED) == [
        "empty",
        "null",
        "missing",
        "num",
        "list",
        "text",
        "dict",
        "bool",
    ]


def test_sort_descending_reverses_types_and_keeps_ties_stable() -> None:
    assert found("$sort[v]=-1", MIXED) == [
        "bool",
        "dict",
        "list",
        "text",
        "num",
        "null",
        "missing",
        "empty",
    ]


def test_sort_uses_an_arrays_smallest_item_up_and_largest_down() -> None:
    records: list[dict[str, Any]] = [{"id": "wide", "v": [1, 9]}, {"id": "mid", "v": 5}]
    assert found("$sort[v]=1", records) == ["wide", "mid"]
    assert found("$sort[v]=-1", records) == ["wide", "mid"]


@pytest.mark.parametrize(
    ("raw_query", "page"),
    [
        (
            "$select[0]=createdAt&$select[1]=type",
            [{"id": "a", "type": "organization", "createdAt": 100}],
        ),
        ("$select=note", [{"id": "a", "note": "Due now"}]),
        ("$select[note]=1", [{"id": "a", "note": "Due now"}]),
        ("$select[0]=nothing", [{"id": "a"}]),
        ("$select=%23[]", [{"id": "a"}]),
    ],
)
def test_select(raw_query: str, page: list[dict[str, Any]]) -> None:
    assert run_find(compiled(f"{raw_query}&$limit=1"), RECORDS) == (4, page)


def test_select_keeps_the_records_key_order() -> None:
    _, page = run_find(compiled("$select[0]=note&$select[1]=type&$select[2]=id"), RECORDS)
    assert list(page[0]) == ["id", "type", "note"]


def test_pages_are_copies() -> None:
    _, page = run_find(compiled(""), RECORDS)
    first = page[0]
    assert isinstance(first, dict)
    first["type"] = "changed"
    assert RECORDS[0]["type"] == "organization"


@pytest.mark.parametrize(
    ("raw_query", "limit", "skip"),
    [
        ("", 10, 0),
        ("$limit=5&$skip=2", 5, 2),
        ("$limit=%235&$skip=%232", 5, 2),
        ("$limit=0", 0, 0),
        ("$limit=1000", 50, 0),
        ("$limit=%232e1", 20, 0),
    ],
)
def test_limit_and_skip(raw_query: str, limit: int, skip: int) -> None:
    find = compiled(raw_query)
    assert (find.limit, find.skip) == (limit, skip)


def test_limit_zero_still_counts_the_total() -> None:
    assert run_find(compiled("$limit=0"), RECORDS) == (4, [])


def test_skip_and_limit_cut_the_sorted_page() -> None:
    total, page = run_find(compiled("$sort[createdAt]=-1&$skip=1&$limit=2"), RECORDS)
    assert (total, [record["id"] for record in page]) == (4, ["c", "b"])


def test_skip_past_the_end_is_an_empty_page() -> None:
    assert run_find(compiled("$skip=10"), RECORDS) == (4, [])


# --- 400s ---


@pytest.mark.parametrize(
    ("raw_query", "message"),
    [
        ("$foo=1", "Invalid query parameter $foo"),
        ("type[$foo]=x", "Invalid query parameter $foo"),
        ("type[$in][0]=x&type[$bar]=y", "Invalid query parameter $bar"),
        (
            "type[foo]=x",
            "Invalid query parameter type[foo]: nested field queries are not supported",
        ),
        (
            "$populate=customer",
            "Invalid query parameter $populate: the sandbox does not support $populate",
        ),
        ("$search=acme", "Invalid query parameter $search: the sandbox does not support $search"),
        (
            "$project[a]=1",
            "Invalid query parameter $project: the sandbox does not support $project",
        ),
        ("$or[0][$limit]=1", "Invalid query parameter $limit: it is only allowed at the top level"),
        ("$limit=abc", "$limit must be a non-negative integer, got 'abc'"),
        ("$limit=-1", "$limit must be a non-negative integer, got '-1'"),
        ("$limit=1.5", "$limit must be a non-negative integer, got '1.5'"),
        ("$limit", "$limit must be a non-negative integer, got null"),
        ("$skip=%23-3", "$skip must be a non-negative integer, got -3"),
        ("$sort=createdAt", "$sort must be an object like $sort[createdAt]=-1, got 'createdAt'"),
        ("$sort[createdAt]=up", "$sort[createdAt] must be 1 or -1, got 'up'"),
        ("$sort[createdAt]=%230", "$sort[createdAt] must be 1 or -1, got 0"),
        ("$select[0]=%235", "$select must be a list of field names, got [5]"),
        ("$select[note]=0", "$select[note] must be 1 (the sandbox cannot exclude fields), got '0'"),
        ("$select=", "$select must be a list of field names, got ''"),
        ("$or=%23[]", "$or must be a non-empty list of queries, got []"),
        ("$or=type", "$or must be a non-empty list of queries, got 'type'"),
        ("$and[0]=type", "$and[0] must be a query object, got 'type'"),
        ("createdAt[$gt]=soon", "createdAt[$gt] must be a number, got 'soon'"),
        ("createdAt=soon", "createdAt must be a number, got 'soon'"),
        (
            "createdAt[$in][0]=1&createdAt[$in][1]=soon",
            "createdAt[$in][1] must be a number, got 'soon'",
        ),
        ("$or[0][paymentTerms][$ne]=x", "$or[0][paymentTerms][$ne] must be a number, got 'x'"),
        ("note[$gt]=%23true", "note[$gt] must be a number or a string, got true"),
        ("type[$in][a]=x", "type[$in] must be a list, got {'a': 'x'}"),
        ("finalizedAt[$exists]=maybe", "finalizedAt[$exists] must be true or false, got 'maybe'"),
        ("finalizedAt[$exists]", "finalizedAt[$exists] must be true or false, got null"),
        # RE2's own wording (the sandbox matches `$regex` on RE2).
        ("note[$regex]=(", "note[$regex] is not a valid regular expression: missing ): ("),
        ("note[$regex]=%235", "note[$regex] must be a string, got 5"),
        ("note[$regex]=a&note[$options]=g", "note[$options] must be letters from imsx, got 'g'"),
        ("note[$options]=i", "note[$options] needs note[$regex]"),
    ],
)
def test_bad_queries_are_400(raw_query: str, message: str) -> None:
    assert bad_request(raw_query) == message


def test_regex_longer_than_256_characters_is_400() -> None:
    assert bad_request(f"note[$regex]={'a' * 257}") == (
        "note[$regex] must be at most 256 characters, got 257"
    )


def test_long_values_are_shortened_in_messages() -> None:
    assert bad_request(f"$limit={'x' * 100}") == (
        f"$limit must be a non-negative integer, got '{'x' * 56}..."
    )
