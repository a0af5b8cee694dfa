"""The official `@mycure/sdk-js`, installed with npm from the lock file in tests/mycure/sdk/,
for the tests that drive it from Node (a REST walk, `find().watch()`, a cluster's watchers)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

SDK_DIR = Path(__file__).parents[1] / "mycure" / "sdk"


def installed_sdk(
    tmp_path_factory: pytest.TempPathFactory, name: str, scripts: Iterable[Path]
) -> Path:
    """A folder with the SDK installed and `scripts` beside it. Without Node.js, the test is
    skipped, except in CI, which must run it."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the MYCURE SDK check, but {' and '.join(missing)} is missing")
        pytest.skip(f"the MYCURE SDK check needs Node.js ({' and '.join(missing)} not found)")
    workdir = tmp_path_factory.mktemp(name)
    for source in (SDK_DIR / "package.json", SDK_DIR / "package-lock.json", *scripts):
        shutil.copy(source, workdir / source.name)
    installed = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=workdir, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return workdir
