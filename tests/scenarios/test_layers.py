"""Where the scenarios sit in the layers: beside the control API, which never imports them (the app
hands them over through `sandbox.scenarios`), and below the app, which they never import."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_architecture import ROOT, lint


@pytest.mark.parametrize(
    ("module", "bad_import"),
    [
        ("scenarios/apply.py", "import billing_sandbox.control.handlers"),
        ("scenarios/run.py", "import billing_sandbox.app"),
        ("control/handlers.py", "import billing_sandbox.scenarios.apply"),
    ],
)
def test_a_crossing_import_breaks_the_layers(tmp_path: Path, module: str, bad_import: str) -> None:
    copy = tmp_path / "billing_sandbox"
    shutil.copytree(ROOT / "src" / "billing_sandbox", copy)
    target = copy / module
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith(" BROKEN")]
    assert any(line.startswith("Layers point down") for line in broken), result.stdout
