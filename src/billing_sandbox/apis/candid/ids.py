"""Candid's ids: version-4 uuids made from a seeded generator's 128 bits, so the same seed
makes the same ids."""

from __future__ import annotations

# The bits a version-4 uuid fixes (RFC 9562): the version nibble (4) and the variant (10).
_FIXED = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)


def uuid4_text(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))`, formatted directly: a uuid object costs more
    than the rest of a write-off's creation."""
    text = f"{(bits & _FIXED) | _VERSION_4:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
