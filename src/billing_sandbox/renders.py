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
    """What a handler renders records through: `get(key, make)` is `make()`'s answer, and
    `each(kind, records, key, make)` is `[make(r) for r in records]`."""

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any: ...

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], Any],
    ) -> list[Any]: ...


class Renders:
    """One tenant's rendered records, as `orjson.Fragment`s, at most `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[Hashable, orjson.Fragment] = {}

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The bytes of `make()`, made once until `clear()`. `key` names the record and the
        rendering (its shape, its API generation), never anything the request adds."""
        if not self.limit:
            return make()
        found = self._kept.get(key)
        if found is None:
            found = self._keep(key, make())
        return found

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable],
        make: Callable[[T], Any],
    ) -> list[Any]:
        """A list's records, each as `get((kind, key(record)), ...)` would give it, in one
        loop (a page is a hundred records: a call per record cost more than the bytes)."""
        if not self.limit:
            return [make(record) for record in records]
        kept = self._kept
        found_all = []
        for record in records:
            name = (kind, key(record))
            found = kept.get(name)
            if found is None:
                found = self._keep(name, make(record))
            found_all.append(found)
        return found_all

    def _keep(self, key: Hashable, rendering: Any) -> orjson.Fragment:
        if len(self._kept) >= self.limit:
            # Bounded: a tenant with more records than the cap renders some again.
            self._kept.clear()
        kept = self._kept[key] = orjson.Fragment(orjson.dumps(rendering))
        return kept

    def clear(self) -> None:
        """Forget every rendering (the tenant changed)."""
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


class Fresh:
    """Renders every time: what a write gets, so it never reads a rendering it is changing."""

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
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
