"""schemathesis against a live sandbox: every Decoda operation, every check, stateless and
stateful.

The CLI is used (not the pytest plugin) because only the CLI turns schemathesis warnings,
such as "operations repeatedly returned 404", into failures.

Two runs, each in its own tenant so neither sees the other's writes:

- the main run (decoda.toml) fuzzes 15 operations, with every warning failing it;
- the money run (decoda-money.toml) fuzzes the five money movements that use up the curated
  records, and follows them in the stateful phase from freshly created charges. It allows the
  "validation_mismatch" warning alone: see decoda-money.toml.
- the webhook run (decoda.toml) fuzzes twelve webhook operations (current and legacy paths)
  apart: in the main run they took the stateful phase's steps from the charge links.

The runs go one after the other (about 35 s + 25 s here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from billing_sandbox.settings import Settings
from tests.conformance.config import config_file
from tests.support.live import live_server

# A CI step of its own (`pytest -m fuzz`): see pyproject.toml.
pytestmark = pytest.mark.fuzz

HERE = Path(__file__).parent
SPEC = Settings().specs_dir / "decoda-billing.yaml"
ST = Path(sys.executable).with_name("st")
MONEY = (
    "createCashSettledPayment",
    "createWriteOff",
    "refundPayment",
    "createPaymentPlanWithCharges",
    "cancelPaymentPlan",
)
# The money run also needs the sources of its links (createCharge) and their target
# (getChargeTimeline); decoda-money.toml limits those two to the stateful phase.
LINKED = ("createCharge", "getChargeTimeline")
WEBHOOKS = (
    *(f"{name}{suffix}"
      for suffix in ("", "V1")
      for name in ("createWebhook", "listWebhooks", "getWebhook", "updateWebhook",
                   "deleteWebhook", "listWebhookDeliveries")),
    "getWebhookConfig",
    "updateWebhookConfig",
)  # fmt: skip
# One delivery attempt, and its re-send: an attempt exists only once an event was sent to a
# webhook, which no fuzzed chain of webhook calls makes, so their every case would be a 404.
# tests/decoda/test_webhook_delivery.py covers them through HTTP, responses validated.
UNFUZZED = tuple(
    f"{name}{suffix}"
    for suffix in ("", "V1")
    for name in ("getWebhookDelivery", "sendWebhookDelivery")
)


@dataclass(frozen=True)
class Run:
    config: str
    tenant: str
    selection: tuple[str, ...]
    # The webhook run's CRUD needs fewer examples than the business rules to reach every
    # status and link, and the default suite has a five-minute budget.
    max_examples: int = 50


RUNS = {
    "main": Run(
        "decoda.toml",
        "conformance-decoda",
        tuple(
            arg for op in (*MONEY, *WEBHOOKS, *UNFUZZED) for arg in ("--exclude-operation-id", op)
        ),
    ),
    "money": Run(
        "decoda-money.toml",
        "conformance-decoda-money",
        tuple(arg for op in (*MONEY, *LINKED) for arg in ("--include-operation-id", op)),
    ),
    "webhooks": Run(
        "decoda.toml",
        "conformance-decoda-webhooks",
        tuple(arg for op in WEBHOOKS for arg in ("--include-operation-id", op)),
        max_examples=20,
    ),
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str


def command(url: str, run: Run, workdir: Path) -> list[str]:
    return [
        str(ST),
        "--config-file",
        str(config_file("decoda", run.config, workdir)),
        "run",
        str(SPEC),
        "--url",
        url,
        "--checks",
        "all",
        "--max-examples",
        str(run.max_examples),
        "--seed",
        "20261121",
        "--generation-deterministic",
        # TENANT and API-KEY are apiKey security schemes: given here, they are not fuzzed.
        "-H",
        f"TENANT: {run.tenant}",
        "-H",
        "API-KEY: conformance",
        *run.selection,
    ]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "decoda_hooks.py"), "NO_COLOR": "1"}
    results = {}
    with live_server() as url:
        # One after the other: run side by side, the two competed for the two cores and the
        # money run's stateful phase reached fewer links from one run to the next.
        for name, run in RUNS.items():
            # Each run writes .hypothesis/ and .schemathesis/ into its own directory.
            workdir = tmp_path_factory.mktemp(f"decoda-{name}")
            done = subprocess.run(
                command(url, run, workdir), cwd=workdir, env=env, capture_output=True, text=True,
                timeout=600, check=False,
            )  # fmt: skip
            results[name] = Outcome(done.returncode, done.stdout + done.stderr)
    yield results


def test_every_operation_conforms_stateless_and_stateful(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["main"]
    assert outcome.returncode == 0, outcome.output
    assert "Tested: 15" in outcome.output
    # create → get / archive / timeline / adjust, legacy create → get / adjust, patients.
    assert "API Links:    8 covered / 8 selected" in outcome.output
    assert "✅ Stateful" in outcome.output


def test_money_movements_conform(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["money"]
    assert outcome.returncode == 0, outcome.output
    assert "Tested: 7" in outcome.output
    # create → write-off / settle / plan / timeline, settle → refund / timeline, plan →
    # cancel, refund → timeline. schemathesis reaches all 8 in most runs but, even with a
    # fixed seed, sometimes misses one (plan → cancel, the end of the longest chain), so at
    # most one may be missed; cancelling plans is covered by tests/decoda/test_money.py.
    covered = re.search(r"API Links: +(\d+) covered / (\d+) selected", outcome.output)
    assert covered is not None, outcome.output
    assert int(covered[2]) == 8
    assert int(covered[1]) >= 7, outcome.output
    assert "✅ Stateful" in outcome.output


def test_webhook_operations_conform(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["webhooks"]
    assert outcome.returncode == 0, outcome.output
    assert "Tested: 14" in outcome.output
    # create → get / update / delete / list attempts, on both paths.
    assert "API Links:    8 covered / 8 selected" in outcome.output
    assert "✅ Stateful" in outcome.output
