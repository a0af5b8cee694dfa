"""Keyset pagination: sorted key lists walked from a cursor, and signed opaque page tokens.

A cursor is the sort key of the last (or first) record a client saw, never an offset, so a
record created while a client walks the pages can neither repeat nor hide another record.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from typing import Any

import orjson

from billing_sandbox.errors import Issue, ValidationFailed
from billing_sandbox.signing import b64url, mac, same, unb64url

# (sort value, write-off id): the id breaks ties, so the order is total.
Key = tuple[Any, str]


class SortedKeys:
    """Keys kept in ascending order; inserting costs a binary search and one memmove."""

    def __init__(self) -> None:
        self.keys: list[Key] = []

    def add(self, key: Key) -> None:
        insort(self.keys, key)

    def remove(self, key: Key) -> None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            del self.keys[index]

    def add_many(self, keys: list[Key]) -> None:
        """Bulk load (seeding): one sort instead of a memmove per key."""
        self.keys.extend(keys)
        self.keys.sort()


def after(keys: list[Key], cursor: Key | None, ascending: bool, count: int) -> list[Key]:
    """Up to `count` keys strictly after `cursor` going up (or strictly before it going
    down), nearest first: one slice of the sorted list."""
    if ascending:
        start = 0 if cursor is None else bisect_right(keys, cursor)
        return keys[start : start + count]
    end = len(keys) if cursor is None else bisect_left(keys, cursor)
    return keys[max(0, end - count) : end][::-1]


@dataclass(frozen=True)
class Page:
    keys: list[Key]
    next_cursor: Key | None
    prev_cursor: Key | None


def cut_page(
    keys: list[Key],
    ascending: bool,
    cursor: Key | None,
    backwards: bool,
    limit: int,
) -> Page:
    """One page in display order, and the cursors of the pages after and before it."""

    def take(start: Key | None, up: bool, count: int) -> list[Key]:
        return after(keys, start, up, count)

    if not backwards:
        found = take(cursor, ascending, limit + 1)
        page = found[:limit]
        more_after = len(found) > limit
        more_before = bool(take(page[0] if page else cursor, not ascending, 1))
    else:
        found = take(cursor, not ascending, limit + 1)
        page = found[:limit][::-1]
        more_before = len(found) > limit
        more_after = bool(take(page[-1] if page else cursor, ascending, 1))
    if not page:
        # Nothing here: point both ways from the cursor the client came with.
        return Page([], cursor if more_after else None, cursor if more_before else None)
    return Page(page, page[-1] if more_after else None, page[0] if more_before else None)


class PageTokens:
    """Opaque tokens: a cursor, a direction and the query they were made for, HMAC-signed."""

    def __init__(self, secret: str, tenant_id: str) -> None:
        self._key = hashlib.sha256(f"{secret}:{tenant_id}:page-token".encode()).digest()
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
