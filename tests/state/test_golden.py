"""Seed data is deterministic: one golden snapshot per API, the same bytes on any machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from billing_sandbox.settings import Settings
from tests.support.seeding import API_NAMES, GOLDEN_TENANTS, exported

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("api_name", API_NAMES)
def test_seed_0_matches_the_golden_snapshot(api_name: str) -> None:
    tenant = GOLDEN_TENANTS[api_name]
    golden = GOLDEN / f"{api_name}-seed-0-{tenant}.json"
    produced = exported(Settings(seed=0), api_name, tenant)
    if os.environ.get("BILLING_SANDBOX_UPDATE_GOLDEN") == "1":
        golden.write_bytes(produced)
    assert produced == golden.read_bytes(), (
        "seed data changed; if intended, rerun with BILLING_SANDBOX_UPDATE_GOLDEN=1 and commit"
    )


@pytest.mark.parametrize("api_name", API_NAMES)
def test_same_seed_same_bytes_other_seed_or_tenant_other_data(api_name: str) -> None:
    tenant = GOLDEN_TENANTS[api_name]
    base = exported(Settings(seed=0), api_name, tenant)
    assert exported(Settings(seed=0), api_name, tenant) == base
    assert exported(Settings(seed=1), api_name, tenant) != base
    assert exported(Settings(seed=0), api_name, f"other-{tenant}") != base
