"""Helpers for the tenants' tests."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette


def http_of(app: Starlette, opened: list[httpx.AsyncClient]) -> httpx.AsyncClient:
    """A client of `app` over ASGI, closed with the test's other clients (`opened`)."""
    made = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    opened.append(made)
    return made
