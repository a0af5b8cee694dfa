"""schemathesis against a live sandbox: every operation, every check, stateless and stateful.

The CLI is used (not the pytest plugin) because only the CLI turns schemathesis warnings,
such as "operations repeatedly returned 404", into failures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from billing_sandbox.settings import Settings
from tests.conformance.config import config_file
from tests.support.live import live_server

# A CI step of its own (`pytest -m fuzz`): see pyproject.toml.
pytestmark = pytest.mark.fuzz

HERE = Path(__file__).parent
SPEC = Settings().specs_dir / "candid-write-offs.yaml"
ST = Path(sys.executable).with_name("st")
ONE_SHOT = "revertEraOriginatedInsuranceBalanceAdjustment"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with live_server() as url:
        yield url


def run_schemathesis(url: str, config: str, selection: list[str], workdir: Path) -> str:
    token = httpx.post(
        f"{url}/api/auth/v2/token", json={"client_id": "conformance", "client_secret": "s"}
    ).json()["access_token"]
    command = [
        str(ST),
        "--config-file",
        str(config_file("candid", config, workdir)),
        "run",
        str(SPEC),
        "--url",
        url,
        "--checks",
        "all",
        "--max-examples",
        "100",
        "--seed",
        "20261121",
        "--generation-deterministic",
        "-H",
        f"Authorization: Bearer {token}",
        *selection,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "candid_hooks.py"), "NO_COLOR": "1"}
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_every_operation_conforms_stateless_and_stateful(sandbox_url: str, tmp_path: Path) -> None:
    output = run_schemathesis(
        sandbox_url, "candid.toml", ["--exclude-operation-id", ONE_SHOT], tmp_path
    )
    assert "Tested: 5" in output
    assert "API Links:    3 covered / 3 selected" in output  # create → get → revert all ran
    assert "✅ Stateful" in output


def test_one_shot_era_revert_conforms(sandbox_url: str, tmp_path: Path) -> None:
    output = run_schemathesis(
        sandbox_url,
        "candid-era.toml",
        # No link leads to it (nothing creates adjustments), so there is no stateful phase.
        ["--include-operation-id", ONE_SHOT, "--phases", "examples,coverage,fuzzing"],
        tmp_path,
    )
    assert "Tested: 1" in output
