"""Keyset pagination: sorted key lists walked from a cursor, and signed opaque page tokens.

A cursor is the sort key of the last (or first) record a client saw, never an offset, so a
record created while a client walks the pages can neither repeat nor hide another record.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from billing_sandbox.errors import Issue, ValidationFailed
from billing_sandbox.signing import b64url, mac, same, unb64url

# (sort value, write-off id): the id breaks ties, so the order is total.
Key = tuple[Any, str]
T = TypeVar("T")


class SortedKeys:
    """Keys kept in ascending order, each record's id beside its key (a page's ids are then one
    slice); inserting costs a binary search and two memmoves."""

    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.ids: list[str] = []

    def add(self, key: Key) -> None:
        index = bisect_right(self.keys, key)
        self.keys.insert(index, key)
        self.ids.insert(index, key[1])

    def remove(self, key: Key) -> None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]
            del self.ids[index]

    def add_many(self, keys: list[Key]) -> None:
        """Bulk load (seeding): one sort instead of a memmove per key."""
        self.keys.extend(keys)
        self.keys.sort()
        self.ids = [key[1] for key in self.keys]


def _span(keys: list[Key], cursor: Key | None, up: bool, count: int) -> tuple[int, int]:
    """Where the `count` keys nearest `cursor` lie (strictly after it going up, strictly
    before it going down): `keys[start:stop]`."""
    if up:
        start = 0 if cursor is None else bisect_right(keys, cursor)
        return start, min(start + count, len(keys))
    stop = len(keys) if cursor is None else bisect_left(keys, cursor)
    return max(0, stop - count), stop


@dataclass(slots=True)
class Page:
    """A page: the sorted keys' run from `start` to `stop`, shown in ascending order or not,
    and the cursors of the pages after and before it."""

    start: int
    stop: int
    ascending: bool
    next_cursor: Key | None
    prev_cursor: Key | None

    def of(self, items: list[T]) -> list[T]:
        """The page's share of a list that lies beside the keys (the keys, their ids), in the
        order the page shows it."""
        run = items[self.start : self.stop]
        return run if self.ascending else run[::-1]


def cut_page(
    keys: list[Key],
    ascending: bool,
    cursor: Key | None,
    backwards: bool,
    limit: int,
) -> Page:
    """One page, and the cursors of the pages after and before it. Whichever way the client
    walks (to the next page or back to the previous one), a page is one run of the sorted
    keys: the `limit` nearest the cursor in the walk's direction."""
    up = ascending != backwards  # the walk's direction in the sorted keys
    start, stop = _span(keys, cursor, up, limit + 1)
    more_ahead = stop - start > limit
    if up:
        stop = min(stop, start + limit)
    else:
        start = max(start, stop - limit)
    if start == stop:
        # Nothing here: look behind the cursor the client came with.
        behind_start, behind_stop = _span(keys, cursor, not up, 1)
        more_behind = behind_stop > behind_start
    else:
        # Keys are unique, so there is one behind the page's nearest key when the run does
        # not begin (or end) the list.
        more_behind = start > 0 if up else stop < len(keys)
    more_after, more_before = (more_behind, more_ahead) if backwards else (more_ahead, more_behind)
    if start == stop:
        return Page(start, stop, ascending, cursor if more_after else None,
                    cursor if more_before else None)  # fmt: skip
    first, last = (keys[start], keys[stop - 1]) if ascending else (keys[stop - 1], keys[start])
    return Page(start, stop, ascending, last if more_after else None,
                first if more_before else None)  # fmt: skip


# The key page tokens had before bearer tokens got a secret key (the same tokens as before).
PUBLIC_PAGE_KEY = "billing-sandbox-not-a-secret"


class PageTokens:
    """Opaque tokens: a cursor, a direction and the query they were made for, HMAC-signed."""

    def __init__(self, secret: str, tenant_id: str) -> None:
        # A page token is a cursor, not a credential: forging one reaches nothing its bearer
        # cannot list. Without a configured secret its key is fixed, so that the same seed
        # gives the same tokens on every server (they are part of the data a test compares).
        key = f"{secret or PUBLIC_PAGE_KEY}:{tenant_id}:page-token"
        self._key = hashlib.sha256(key.encode()).digest()
        # A token is a function of its cursor, direction and query: each is signed once.
        self._made: dict[tuple[Key, bool, bytes], str] = {}

    def make(self, cursor: Key, backwards: bool, query: dict[str, Any]) -> str:
        known = (cursor, backwards, _canonical(query))
        token = self._made.get(known)
        if token is None:
            token = self._sign(cursor, backwards, query)
            if len(self._made) >= _MADE_LIMIT:
                self._made.clear()
            self._made[known] = token
        return token

    def _sign(self, cursor: Key, backwards: bool, query: dict[str, Any]) -> str:
        payload = orjson.dumps({"k": list(cursor), "b": backwards, "q": _fingerprint(query)})
        body = b64url(payload)
        return f"{body}.{mac(self._key, body, 16)}"

    def read(self, token: str, query: dict[str, Any]) -> tuple[Key, bool]:
        """The cursor and direction in `token`, if it is genuine and was made for `query`."""
        body, _, signature = token.partition(".")
        if not same(mac(self._key, body, 16), signature):
            raise _bad_token("is not a page token this server issued (it may have been altered)")
        payload = orjson.loads(unb64url(body))
        if payload["q"] != _fingerprint(query):
            raise _bad_token(
                "was issued for different filters or sort; repeat the query it came from"
            )
        value, record_id = payload["k"]
        return (value, record_id), bool(payload["b"])


_MADE_LIMIT = 1024


def _canonical(query: dict[str, Any]) -> bytes:
    return orjson.dumps(query, option=orjson.OPT_SORT_KEYS)


def _fingerprint(query: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(query)).hexdigest()[:16]


def _bad_token(problem: str) -> ValidationFailed:
    return ValidationFailed([Issue("query", ("page_token",), problem)])
