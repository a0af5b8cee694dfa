"""Each record's answer, rendered once per version: the JSON bytes of a record's rendering,
kept until its tenant changes, so lists and pages are built from bytes instead of being
rendered and serialised anew on every read. Only reads use them (a write renders afresh),
and any write to the tenant forgets them all, so no stale byte is ever served."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol, TypeVar

import orjson

T = TypeVar("T")


class RenderSource(Protocol):
    """What a handler renders records through: `get(kind, key, make)` is `make()`'s answer,
    and `each(kind, records, key, make)` is `[make(r) for r in records]`."""

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any: ...

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], Any],
    ) -> list[Any]: ...


class Renders:
    """One tenant's rendered records, as `orjson.Fragment`s, at most `limit` of them. A
    rendering is named by its kind (the record type and the shape it is rendered in, such as
    `decoda.charge_detail`) and the key of the records it renders (a charge's id; a charge
    and a payment for a timeline), never by anything else the request carries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_kind: dict[str, dict[Hashable, orjson.Fragment]] = {}
        self._count = 0

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any:
        """The bytes of `make()`, made once until `clear()`."""
        if not self.limit:
            return make()
        kept = self._by_kind.get(kind)
        found = None if kept is None else kept.get(key)
        if found is None:
            found = self._keep(kind, key, make())
        return found

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], Any],
    ) -> list[Any]:
        """A list's records, each as `get(kind, key(record), ...)` would give it, in one
        loop (a page is a hundred records: a call per record cost more than the bytes)."""
        if not self.limit:
            return [make(record) for record in records]
        kept = self._by_kind.get(kind, {})
        found_all = []
        for record in records:
            name = key(record)
            found = kept.get(name)
            if found is None:
                found = self._keep(kind, name, make(record))
                kept = self._by_kind[kind]  # a new dict when the cap made it start over
            found_all.append(found)
        return found_all

    def _keep(self, kind: str, key: Hashable, rendering: Any) -> orjson.Fragment:
        if self._count >= self.limit:
            # Bounded: a tenant with more records than the cap renders some again.
            self.clear()
        fragment = orjson.Fragment(orjson.dumps(rendering))
        self._by_kind.setdefault(kind, {})[key] = fragment
        self._count += 1
        return fragment

    def clear(self) -> None:
        """Forget every rendering (the tenant changed)."""
        self._by_kind = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count


class Fresh:
    """Renders every time: what a write gets, so it never reads a rendering it is changing."""

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any:
        return make()

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], Any],
    ) -> list[Any]:
        return [make(record) for record in records]


FRESH = Fresh()


class ValidatedBodies:
    """The response bodies already validated against their operation's spec, by operation,
    status and a hash of their bytes: validation is a function of those, so a body served
    again unchanged needs no second check. Bounded: past `limit`, it starts over."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._seen: set[tuple[str, int, int]] = set()

    def seen(self, key: tuple[str, int, int]) -> bool:
        return key in self._seen

    def add(self, key: tuple[str, int, int]) -> None:
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(key)
