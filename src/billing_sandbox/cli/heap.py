"""What the server built to start, kept out of the garbage collector's full passes.

CPython's collector walks every object it tracks on a full (oldest-generation) pass. The app
holds about 90,000 at start (its specs, their compiled validators, the routes, the start
scenarios' tenants), which cost a full pass about 45 ms on a 2-core VM; a server taking writes
promotes enough survivors (each write's records) to make one due every thousand or two writes,
so that every write paid about 30 µs for objects that live as long as the server. Frozen, they
are never walked again (`gc.freeze`); what comes later is collected as before.

The price, paid once: the start scenarios' tenants as first built are frozen too, so when one is
reset or evicted, what of it sits in reference cycles (a Decoda store holds some) is never
freed. Their rebuilt tenants are not frozen, so no later reset leaks; a server started with
`--scenario` keeps at most one extra copy of its start tenants.
"""

from __future__ import annotations

import gc


def freeze_what_started() -> int:
    """Collect what starting left behind, then freeze the survivors: they stay for good. The
    number of objects now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
