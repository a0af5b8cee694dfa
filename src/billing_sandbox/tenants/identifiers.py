"""What may name a tenant: the ids and emails a client's credentials choose its tenant by, each
bounded in length and made of characters that cannot forge a log line or pass for another."""

from __future__ import annotations

import re

# A client id or a TENANT value is the name of a tenant, kept for as long as the tenant lives:
# in memory, URLs, log lines and spill files. Real ones are short (a uuid is 36 characters);
# 128 leaves room for a test's own prefix and still costs nothing to keep.
MAX_ID_CHARS = 128
# Printable ASCII without spaces: what such ids are made of, and nothing that could forge a
# log line or a terminal's colours (control characters) or look like another id (look-alike
# letters from other scripts, invisible characters).
_ID = re.compile(r"[!-~]+")
# RFC 5321's limit on an address, which MYCURE's spec also sets.
MAX_EMAIL_CHARS = 254
# What an email may not hold, as the spec's pattern says it too: whitespace, control
# characters (they forge log lines and terminal colours), and the invisible and
# direction-changing ones (zero-width, bidirectional overrides) that make one name look like
# another.
UNSEEN_IN_EMAIL = r"\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
_EMAIL_CHARACTER_REFUSED = re.compile(f"[{UNSEEN_IN_EMAIL}]")


def id_problem(value: str) -> str | None:
    """Why `value` cannot name a tenant, or None when it can."""
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters long; the sandbox accepts at most {MAX_ID_CHARS}"
    if not _ID.fullmatch(value):
        return "may hold only printable ASCII characters, without spaces"
    return None


def email_problem(value: str) -> str | None:
    """Why `value` cannot be an account's email (whose domain names a tenant), or None.
    Letters of any script are fine (an internationalised domain); control and invisible
    formatting characters are not."""
    if len(value) > MAX_EMAIL_CHARS:
        return f"is {len(value)} characters long; the sandbox accepts at most {MAX_EMAIL_CHARS}"
    if _EMAIL_CHARACTER_REFUSED.search(value):
        return "may hold no whitespace, control, invisible or direction-changing characters"
    return None
