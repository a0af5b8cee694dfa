"""The pacts a `contract` action runs on: read from pact files, or made from a sandbox's request
journal saved to a file (one pact per API it holds). A file that cannot be read or is not what
it should be stops the run: CannotRun naming the file and why."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from billing_sandbox.conformance.login import CannotRun
from billing_sandbox.contracts.files import NotAFile, read_regular_file
from billing_sandbox.contracts.journal import pacts_from_journal
from billing_sandbox.contracts.model import Pact, PactInvalid
from billing_sandbox.contracts.reading import load_pact

# A journal file is what the control API answered: its size is bounded by the sandbox's own
# journal size; this bounds a wrong file's.
MAX_JOURNAL_BYTES = 64 * 1024 * 1024


def load_pacts(paths: Sequence[Path]) -> list[Pact]:
    """Every pact read; the first that cannot be stops the run, its problems said."""
    pacts = []
    for path in paths:
        try:
            pacts.append(load_pact(path))
        except PactInvalid as invalid:
            raise CannotRun(str(invalid)) from None
        except OSError as error:
            raise CannotRun(f"{path}: cannot be read ({error.strerror or error})") from None
    return pacts


def journal_pacts(path: Path) -> list[Pact]:
    """The pacts a journal file makes (one per API it holds), or CannotRun saying why none."""
    try:
        raw = read_regular_file(path, MAX_JOURNAL_BYTES)
    except FileNotFoundError:
        raise CannotRun(f"{path}: no such file") from None
    except (IsADirectoryError, NotAFile):
        raise CannotRun(f"{path}: not a file") from None
    except OSError as error:
        raise CannotRun(f"{path}: cannot be read ({error.strerror or error})") from None
    if len(raw) > MAX_JOURNAL_BYTES:
        raise CannotRun(f"{path}: larger than {MAX_JOURNAL_BYTES // (1024 * 1024)} MB")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise CannotRun(f"{path}: not JSON ({error})") from None
    try:
        return pacts_from_journal(document, str(path))
    except PactInvalid as invalid:
        raise CannotRun(str(invalid)) from None
