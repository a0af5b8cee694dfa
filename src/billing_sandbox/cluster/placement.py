"""Which shard owns a tenant: rendezvous hashing (the highest score of `tenant:shard` wins).

A score is the CRC-32 of `tenant:shard` mixed by a full-avalanche integer hash, as HAProxy's
`crc32(1)` converter computes it (zlib's CRC-32, then Bob Jenkins' integer hash, which HAProxy
applies); HAProxy computes exactly this in the generated config, so the merger, the moving of
tenants and the tests know a tenant's owner without asking. The mixing matters: CRC-32 alone
is linear, so the CRCs of `t:0` and `t:1` differ by the same bits for every `t` of a length,
and one shard would win far more than its share. Adding a shard moves only the tenants the new
shard wins, about 1/N of them; removing one moves only its own."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

_WORD = 0xFFFFFFFF


def score(tenant: str, shard: int) -> int:
    """The tenant's hash for one shard, as HAProxy's `concat(:<shard>),crc32(1)` computes it."""
    return _avalanche(zlib.crc32(f"{tenant}:{shard}".encode()))


def _avalanche(value: int) -> int:
    """Bob Jenkins' full-avalanche integer hash, then HAProxy's spreading multiplication (what
    its `crc32` converter does with its `avalanche` argument), on 32-bit words."""
    value = ((value + 0x7ED55D16) + (value << 12)) & _WORD
    value = ((value ^ 0xC761C23C) ^ (value >> 19)) & _WORD
    value = ((value + 0x165667B1) + (value << 5)) & _WORD
    value = ((value + 0xD3A2646C) ^ (value << 9)) & _WORD
    value = ((value + 0xFD7046C5) + (value << 3)) & _WORD
    value = ((value ^ 0xB55A4F09) ^ (value >> 16)) & _WORD
    return (value * 3221225473) & _WORD


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
