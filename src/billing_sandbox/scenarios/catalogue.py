"""The scenario packs a sandbox can apply by name: the shipped ones, then those of given folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from billing_sandbox.scenarios.shipped import SCHEMA_FILE, SHIPPED_DIR

SUFFIXES = (".yaml", ".yml", ".json")


def catalogue(directories: Sequence[Path] = ()) -> dict[str, Path]:
    """Each pack's name (its file's name without the suffix) and file: the shipped packs
    first, then those of `directories` in order, each folder's files by name. A pack of a
    later folder takes the name of an earlier one's (a team's own version of a shipped pack).
    Folders are not searched below their top; a folder that does not exist holds no pack."""
    found: dict[str, Path] = {}
    seen: set[Path] = set()
    for directory in (SHIPPED_DIR, *directories):
        resolved = directory.resolve()
        if resolved in seen or not directory.is_dir():
            continue
        seen.add(resolved)
        for path in sorted(directory.iterdir()):
            if path.suffix in SUFFIXES and path.name != SCHEMA_FILE and path.is_file():
                found.pop(path.stem, None)  # a later folder's pack goes where its folder's do
                found[path.stem] = path
    return found
