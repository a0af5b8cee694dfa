"""A test session's consumer contracts: each test's tenant's pacts, merged into one pact per
provider and written as `CONSUMER-PROVIDER.json` (Pact's own naming) at the session's end."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Where a pact's metadata keeps what billing-sandbox says of it.
_OURS = "billing-sandbox"
# What a consumer's name may hold to name a file too.
_CONSUMER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_consumer(name: str) -> str:
    """The consumer's name, when it can name a pact file; ValueError saying why otherwise."""
    if not _CONSUMER.fullmatch(name):
        raise ValueError(
            f"a pact consumer name is letters, digits, '.', '_' and '-' (at most 100), "
            f"beginning with a letter or digit: {name!r}"
        )
    return name


class SessionPacts:
    """The pacts of a session's tenants, merged by provider, in the order tests ran. Each
    tenant's interactions stay one story (they replay in order on one tenant); descriptions
    are kept unique across the merged file, as Pact tools tell interactions apart by them."""

    def __init__(self, consumer: str) -> None:
        self.consumer = check_consumer(consumer)
        self._by_provider: dict[str, dict[str, Any]] = {}
        self._descriptions: dict[str, set[str]] = {}

    def add(self, pacts: Iterable[Mapping[str, Any]], test: str = "") -> None:
        """Take one tenant's pacts (`SandboxTenant.pacts`), from the test `test` (its node id,
        kept in each interaction's comments)."""
        for pact in pacts:
            provider = str(pact["provider"]["name"])
            merged = self._by_provider.get(provider)
            if merged is None:
                merged = self._by_provider[provider] = _empty(pact, self.consumer)
            taken = self._descriptions.setdefault(provider, set())
            for interaction in pact["interactions"]:
                merged["interactions"].append(_unique(interaction, taken, test))
            # Each tenant's notes (answers cut, calls left out), said of its test.
            ours = (pact.get("metadata") or {}).get(_OURS) or {}
            notes = merged["metadata"][_OURS]["notes"]
            notes.extend(f"{test}: {note}" if test else str(note) for note in ours.get("notes", ()))

    @property
    def providers(self) -> list[str]:
        return list(self._by_provider)

    def write(self, folder: Path) -> list[Path]:
        """Write each provider's pact into `folder` (made if missing), each file replaced
        whole (a reader never sees half of one); the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for provider, pact in self._by_provider.items():
            path = folder / f"{self.consumer}-{provider}.json"
            _write_atomically(path, json.dumps(pact, indent=2, ensure_ascii=False) + "\n")
            written.append(path)
        return written


def _empty(pact: Mapping[str, Any], consumer: str) -> dict[str, Any]:
    """A provider's merged pact before any interaction: the first tenant's file's shape, its
    notes left to be restated by test."""
    metadata = dict(pact.get("metadata") or {})
    metadata[_OURS] = {**(metadata.get(_OURS) or {}), "notes": []}
    return {**pact, "consumer": {"name": consumer}, "interactions": [], "metadata": metadata}


def _unique(interaction: Mapping[str, Any], taken: set[str], test: str) -> dict[str, Any]:
    copied = dict(interaction)
    comments = dict(copied.get("comments") or {})
    if test:
        comments["testname"] = test
    copied["comments"] = comments
    base = str(copied["description"])
    description, n = base, 1
    while description in taken:
        n += 1
        description = f"{base} (#{n})"
    taken.add(description)
    copied["description"] = description
    return copied


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
