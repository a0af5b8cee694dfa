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
        ("observe/journal.py", "import billing_sandbox.control.handlers", "Layers point down"),
        # The request path reaching up into the control API.
        ("pipeline/wrapper.py", "import billing_sandbox.control.views", "Layers point down"),
        # Raw-ASGI plumbing knowing what a tenant is.
        ("asgi/dispatch.py", "import billing_sandbox.tenants.tenant", "Layers point down"),
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


PACKAGE = ROOT / "src" / "billing_sandbox"
# Test folders that name no package: helpers, and suites that cross packages on purpose.
ACROSS_PACKAGES = {"support", "security", "browser"}
# Packages tested elsewhere, and where.
TESTED_ELSEWHERE = {
    "apis": "one folder per API (tests/candid, tests/decoda, tests/mycure)",
    "events": "through Decoda's webhooks (tests/decoda), the API that sends them",
}


def test_the_top_of_the_package_holds_at_most_twelve_modules() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= 12, modules


def test_the_tests_mirror_the_packages() -> None:
    packages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    apis = {path.parent.name for path in (PACKAGE / "apis").glob("*/__init__.py")}
    folders = {path.parent.name for path in (ROOT / "tests").glob("*/__init__.py")}
    assert folders - packages - apis - ACROSS_PACKAGES == set(), "a test folder names no package"
    untested = packages - folders - TESTED_ELSEWHERE.keys()
    assert untested == set(), "each package has its tests' folder of the same name"
    assert apis <= folders, "each API has its tests' folder"
