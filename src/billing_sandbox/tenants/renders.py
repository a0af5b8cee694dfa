"""Each record's answer, rendered once per version: the JSON bytes of a record's rendering,
kept until its tenant changes, so lists and pages are built from bytes instead of being
rendered and serialised anew on every read; a list of the same records in the same order is
kept whole, and a body made of kept bytes is validated once. Only reads use them (a write
renders afresh), and any write to the tenant forgets them all, so no stale byte is ever
served."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol, TypeVar

import orjson

T = TypeVar("T")


class ValidBodies(Protocol):
    """Where bodies already validated are remembered, each named by a key: its operation,
    status and either a hash of its bytes or what it is made of (`composition`)."""

    def seen(self, key: Hashable) -> bool: ...

    def add(self, key: Hashable) -> None: ...


class RenderSource(ValidBodies, Protocol):
    """What a handler renders records through: `get(kind, key, make)` is `make()`'s answer,
    and `each(kind, records, key, make)` is `[make(r) for r in records]` (or its bytes); with
    no `key`, each record is its own key (a list of ids)."""

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any: ...

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable] | None,
        make: Callable[[T], Any],
    ) -> Any: ...


def composition(body: Any) -> Hashable | None:
    """What a body is made of, as a key that needs no hashing of its bytes: the body when it is
    a kept `orjson.Fragment`, or a flat envelope's fields with the kept fragments in it (by
    identity: a fragment never changes, and its `Renders` holds it until it forgets both it
    and what was checked with it). None when the body holds no fragment or anything else."""
    if isinstance(body, orjson.Fragment):
        return body
    if type(body) is not dict:
        return None
    fields = tuple(body.items())
    kept = False
    for _, value in fields:
        if isinstance(value, orjson.Fragment):
            kept = True
        elif value is not None and type(value) not in _SCALARS:
            return None
    return fields if kept else None


_SCALARS = frozenset({str, int, float, bool})


class Renders:
    """One tenant's rendered records, as `orjson.Fragment`s, at most `limit` of them. A
    rendering is named by its kind (the record type and the shape it is rendered in, such as
    `decoda.charge_detail`) and the key of the records it renders (a charge's id; a charge
    and a payment for a timeline), never by anything else the request carries."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_kind: dict[str, dict[Hashable, orjson.Fragment]] = {}
        self._lists: dict[str, dict[tuple[Hashable, ...], orjson.Fragment]] = {}
        self._count = 0
        # Bodies already validated, named by what they are made of (see `composition`).
        self._checked: set[Hashable] = set()

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
        key: Callable[[T], Hashable] | None,
        make: Callable[[T], Any],
    ) -> Any:
        """A list of records as one `orjson.Fragment` (the JSON array), kept by the keys of
        the records in it, in order: the same page of the same records is one lookup, and a
        new list is joined from each record's kept bytes (shared with `get`)."""
        if not self.limit:
            return [make(record) for record in records]
        listed = list(records)
        # No `key`: each record is its own key (an id; `str` of a str is itself, but calling
        # it a hundred times cost a page as much as everything else in `each`).
        keys = tuple(listed) if key is None else tuple(map(key, listed))
        lists = self._lists.get(kind)
        found = None if lists is None else lists.get(keys)
        if found is not None:
            return found
        kept = self._by_kind.get(kind, {})
        parts = []
        for name, record in zip(keys, listed, strict=True):
            part = kept.get(name)
            if part is None:
                part = self._keep(kind, name, make(record))
                kept = self._by_kind[kind]  # a new dict when the cap made it start over
            parts.append(part)
        # A kept list counts as many as it holds toward the cap: its bytes are theirs again.
        if self._count + len(keys) > self.limit:
            return parts  # not kept: plain, so nothing is checked by its identity
        joined = orjson.Fragment(orjson.dumps(parts))
        self._lists.setdefault(kind, {})[keys] = joined
        self._count += len(keys)
        return joined

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
        self._lists = {}
        self._count = 0
        self._checked = set()

    def __len__(self) -> int:
        return self._count

    def seen(self, key: Hashable) -> bool:
        """Whether the body `key` names (operation, status, composition) was validated since
        the last `clear()`."""
        return key in self._checked

    def add(self, key: Hashable) -> None:
        if len(self._checked) >= self.limit:
            self._checked = set()  # bounded like the renderings themselves
        self._checked.add(key)


class Fresh:
    """Renders every time: what a write gets, so it never reads a rendering it is changing."""

    def seen(self, key: Hashable) -> bool:
        return False

    def add(self, key: Hashable) -> None:
        return None

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any:
        return make()

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable] | None,
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
        self._seen: set[Hashable] = set()

    def seen(self, key: Hashable) -> bool:
        return key in self._seen

    def add(self, key: Hashable) -> None:
        if len(self._seen) >= self.limit:
            self._seen.clear()
        self._seen.add(key)
