"""MYCURE accounts: an email names its organisation (the tenant) and, by a hash, its uid."""

from __future__ import annotations

import hashlib
import string

_BASE62 = string.digits + string.ascii_letters
UID_LENGTH = 28  # the length of the Firebase-style uids MYCURE accounts carry


def normalise_email(email: str) -> str:
    return email.strip().lower()


def organisation_of(email: str) -> str:
    """`ana@clinic-a.test` → `clinic-a.test`: colleagues share an organisation's records."""
    return normalise_email(email).rpartition("@")[2]


def uid_for(email: str) -> str:
    """The same email always gets the same uid, on any machine and after any reset, so a
    token cached by a browser keeps naming the same account."""
    number = int.from_bytes(hashlib.sha256(f"mycure:{normalise_email(email)}".encode()).digest())
    chars = []
    for _ in range(UID_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)
