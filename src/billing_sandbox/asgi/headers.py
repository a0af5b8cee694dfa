"""A request header read straight from the ASGI scope, on the paths every request takes.

Starlette's `Headers` answers a missing header by raising and catching a `KeyError`, which
costs more than the scan itself; these scan the scope's (lower-cased) header list once.
"""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower case), or None when it was not sent."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def has_header(scope: Scope, name: bytes) -> bool:
    """Whether header `name` (lower case) was sent."""
    for key, _ in scope["headers"]:  # noqa: SIM110 - a loop, not any(genexpr): every request
        if key == name:
            return True
    return False
