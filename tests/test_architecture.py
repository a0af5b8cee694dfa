"""The layers are a rule the build checks: import-linter's contracts in pyproject.toml hold for
the source, and each breaks when someone adds an import that crosses a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(source_root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with our contracts, over the `billing_sandbox` found in `source_root`."""
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_source_keeps_every_contract() -> None:
    result = lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # One API reaching into another.
        (
            "apis/candid/store.py",
            "import billing_sandbox.apis.decoda.store",
            "An API never imports",
        ),
        # The core naming a vendor (what control.py once did with Decoda's installments).
        ("control/handlers.py", "import billing_sandbox.apis.decoda", "The core imports no API"),
        # The core importing a tool.
        ("recordings.py", "import billing_sandbox.proxy.record", "The core imports no API"),
        # A cycle: the journal (low) importing the control handlers (which import it).
        ("control/journal.py", "import billing_sandbox.control.handlers", "Layers point down"),
        # A cycle inside one API's package.
        ("apis/decoda/money.py", "import billing_sandbox.apis.decoda.store", "No import cycle"),
    ],
)
def test_a_crossing_import_breaks_its_contract(
    tmp_path: Path, module: str, bad_import: str, broken: str
) -> None:
    copy = tmp_path / "billing_sandbox"
    shutil.copytree(ROOT / "src" / "billing_sandbox", copy)
    target = copy / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    assert any(line.startswith(broken) for line in broken_lines), result.stdout
