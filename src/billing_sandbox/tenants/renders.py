"""Each record's answer, rendered once per version: the JSON bytes of a record's rendering,
kept until its tenant changes, so reads are answered with bytes instead of being rendered and
serialised anew every time; a list of the same records in the same order is kept whole, as
one fragment, and a body made of kept bytes is validated once. Only reads use them (a write
renders afresh), and any write to the tenant forgets them all, so no stale byte is ever
served. They are bounded by bytes per tenant (`max_render_bytes`) and for all tenants together
(`max_render_memory`, the least recently used forgetting theirs first), and the server's memory
cap drops them first (both in `held.py`)."""

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
_NONE_KEPT: dict[Hashable, orjson.Fragment] = {}

# What keeping costs beyond a rendering's own bytes, as tracemalloc counts it on CPython 3.11
# (tests/tenants/test_renders.py holds the sum to it), with malloc's header of each block: its
# bytes object's header, its `orjson.Fragment` and its slot in its kind's dict (92 B counted);
# for a list, the tuple of its keys too, a pointer per record.
KEPT_OVERHEAD = 112
PER_LISTED = 8


def exact(dumped: bytes) -> bytes:
    """`orjson.dumps`'s bytes in a block of their own size: orjson's sit in the block it wrote
    them into (4 KB at least, and several times their length for longer ones), which a kept
    rendering holds for as long as it is kept: a Decoda charge's 3 KB held 16 KB, a Candid
    write-off's 0.5 KB 4 KB."""
    return memoryview(dumped).tobytes()


class Growth(Protocol):
    """Where kept bytes are told as they are added, server-wide (`memory.Growth`): the memory
    cap looks at the process sooner when renderings grow fast, and the renderings of all
    tenants are counted against their bound (`max_render_memory`) once they may be past it."""

    grown: int
    rendered: int


class Renders:
    """One tenant's rendered records and lists, as `orjson.Fragment`s, within a byte budget. A
    rendering is named by its kind (the record type and the shape it is rendered in, such as
    `decoda.charge_detail`) and the key of the records it renders (a charge's id; a charge and
    a payment for a timeline; a list's ids, in order), never by anything else the request
    carries.

    Each byte is kept once: a kept list holds its records' bytes, and its records are not kept
    again on their own (a record read by id is, and a list made after it reuses its bytes);
    what is made for a rendering kept whole (a page, by its query: `get` around `each`) is not
    kept apart from it. A tenant's whole charge list (Decoda's, 0.3 MB) is held once.

    At most `max_bytes` are kept (each rendering's bytes and what keeping it costs beside them:
    `size`), in at most `max_count` renderings; one that does not fit starts the tenant over,
    and one larger than the whole budget is served unkept. Either at 0: every read renders
    afresh."""

    def __init__(self, max_bytes: int, max_count: int = 5000, growth: Growth | None = None):
        self.max_bytes = max_bytes if max_count else 0
        self.max_count = max_count
        self.growth = growth
        self.size = 0
        self._count = 0
        # Whether a rendering kept whole is being made: what it is made of is not kept apart.
        self._making = False
        self._by_kind: dict[str, dict[Hashable, orjson.Fragment]] = {}
        self._lists: dict[str, dict[tuple[Hashable, ...], orjson.Fragment]] = {}
        # Bodies already validated, named by what they are made of (see `composition`).
        self._checked: set[Hashable] = set()

    def get(self, kind: str, key: Hashable, make: Callable[[], Any]) -> Any:
        """The bytes of `make()`, made once until `clear()`."""
        if not self.max_bytes:
            return make()
        kept = self._by_kind.get(kind)
        found = None if kept is None else kept.get(key)
        if found is not None:
            return found
        if self._making:
            return make()  # inside another rendering, whose bytes hold this one's
        self._making = True
        try:
            made = make()
        finally:
            self._making = False
        data = exact(orjson.dumps(made))
        cost = len(data) + KEPT_OVERHEAD
        if cost > self.max_bytes:
            return made  # larger than the whole budget: served, never kept
        fragment = orjson.Fragment(data)
        self._hold(self._by_kind, kind, key, fragment, cost)
        return fragment

    def each(
        self,
        kind: str,
        records: Iterable[T],
        key: Callable[[T], Hashable] | None,
        make: Callable[[T], Any],
    ) -> Any:
        """A list of records as one `orjson.Fragment` (the JSON array), kept by the keys of
        the records in it, in order: the same list of the same records is one lookup. A new
        list takes the bytes of records kept by id (`get`) and renders the others."""
        if not self.max_bytes:
            return [make(record) for record in records]
        listed = list(records)
        # No `key`: each record is its own key (an id; `str` of a str is itself, but calling
        # it a hundred times cost a page as much as everything else in `each`).
        keys = tuple(listed) if key is None else tuple(map(key, listed))
        lists = self._lists.get(kind)
        found = None if lists is None else lists.get(keys)
        if found is not None:
            return found
        kept = self._by_kind.get(kind, _NONE_KEPT)
        parts = [
            known if (known := kept.get(name)) is not None else make(record)
            for name, record in zip(keys, listed, strict=True)
        ]
        if self._making:
            return parts  # inside a rendering kept whole, whose bytes hold these
        data = exact(orjson.dumps(parts))
        cost = len(data) + KEPT_OVERHEAD + PER_LISTED * len(keys)
        if cost > self.max_bytes:
            return parts  # larger than the whole budget: plain, so checked by its bytes
        joined = orjson.Fragment(data)
        self._hold(self._lists, kind, keys, joined, cost)
        return joined

    def _hold(
        self,
        table: dict[str, dict[Any, orjson.Fragment]],
        kind: str,
        key: Hashable,
        kept: orjson.Fragment,
        cost: int,
    ) -> None:
        if self.size + cost > self.max_bytes or self._count >= self.max_count:
            # Bounded: a tenant reading more than its budget starts over, rendering again.
            self.clear()  # in place: `table` is one of its tables still
        table.setdefault(kind, {})[key] = kept
        self.size += cost
        self._count += 1
        growth = self.growth
        if growth is not None:
            growth.grown += cost
            growth.rendered += cost

    def clear(self) -> None:
        """Forget every rendering (the tenant changed, or memory is short)."""
        self._by_kind.clear()
        self._lists.clear()
        self.size = 0
        self._count = 0
        self._checked = set()

    def __len__(self) -> int:
        """How many renderings and lists are kept."""
        return self._count

    def seen(self, key: Hashable) -> bool:
        """Whether the body `key` names (operation, status, composition) was validated since
        the last `clear()`."""
        return key in self._checked

    def add(self, key: Hashable) -> None:
        if len(self._checked) >= self.max_count:
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
