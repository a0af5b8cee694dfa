"""Which shard owns a tenant: rendezvous hashing (the highest CRC-32 of `tenant:shard` wins).

HAProxy computes exactly this in the generated config (its `crc32` converter is zlib's), so the
cluster's merging, the moving of tenants and the tests know a tenant's owner without asking.
Adding a shard moves only the tenants the new shard wins, about 1/N of them; removing one moves
only its own."""

from __future__ import annotations

import zlib
from collections.abc import Sequence


def score(tenant: str, shard: int) -> int:
    """The tenant's hash for one shard, as HAProxy's `concat(:<shard>),crc32` computes it."""
    return zlib.crc32(f"{tenant}:{shard}".encode())


def owner(tenant: str, shards: int) -> int:
    """The shard (0 … shards-1) that owns `tenant`; ties go to the lower shard."""
    if shards < 1:
        raise ValueError("a cluster has at least one shard")
    return max(range(shards), key=lambda shard: (score(tenant, shard), -shard))


def split(tenants: Sequence[str], shards: int) -> dict[int, list[str]]:
    """The tenants each shard owns (every shard listed, in order)."""
    owned: dict[int, list[str]] = {shard: [] for shard in range(shards)}
    for tenant in tenants:
        owned[owner(tenant, shards)].append(tenant)
    return owned
