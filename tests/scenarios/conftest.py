"""Scenario tests: an Applier over the in-process app."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from billing_sandbox.scenarios import Applier


@pytest.fixture
def applier(app: Starlette) -> Applier:
    return Applier(app)
