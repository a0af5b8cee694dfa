"""Shared fixtures: an in-process app with a controllable clock, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from billing_sandbox.app import create_app
from billing_sandbox.clock import ManualClock
from billing_sandbox.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c


# ---- recordings (`proxy --record`, `serve --recordings`): a module defines `recorded` ----


@pytest.fixture
def upstream_app(clock: ManualClock) -> Starlette:
    """The 'real server' a recording is made from: a sandbox with another seed."""
    return create_app(Settings(seed=7), clock=clock)


@pytest.fixture
async def upstream(upstream_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=upstream_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test") as c:
        yield c


@pytest.fixture
def reader_app(recorded: dict[str, Any], clock: ManualClock) -> Starlette:
    """A sandbox that loads the module's recording (`recorded["dir"]`)."""
    return create_app(Settings(recordings_dir=recorded["dir"]), clock=clock)


@pytest.fixture
async def reader(reader_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=reader_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        yield c
