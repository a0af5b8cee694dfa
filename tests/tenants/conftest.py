"""What the tenants' tests share: the clients a test opened, closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def opened() -> AsyncIterator[list[httpx.AsyncClient]]:
    """The clients a test opens (`helpers.http_of`), each closed once the test is over."""
    clients: list[httpx.AsyncClient] = []
    yield clients
    for each in clients:
        await each.aclose()
