"""Where the shipped scenario packs and the format's JSON Schema are (installed, or a checkout)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# In a wheel the top-level `scenarios/` travels as `billing_sandbox/scenario-packs/`
# (pyproject's force-include): not `billing_sandbox/scenarios/`, which is this package.
PACKAGED = "scenario-packs"
SCHEMA_FILE = "scenario.schema.json"


def packs_dir() -> Path:
    """The shipped packs' folder: inside the installed package, else the checkout's
    `scenarios/` (an editable install, or the source tree). It may not exist (a package
    built without it): the catalogue then lists no shipped pack."""
    packaged = resources.files("billing_sandbox").joinpath(PACKAGED)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "scenarios"


SHIPPED_DIR = packs_dir()
SCHEMA_PATH = SHIPPED_DIR / SCHEMA_FILE
