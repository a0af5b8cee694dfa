"""Recorded exchanges as seed data: read once per server, laid over every new tenant's seed.

`billing-sandbox proxy --record DIR` writes what a real server answered; `serve --recordings
DIR` loads it. Only answers that can hold records count (each API names its operations), and
only those that still match our spec: a recorded body that breaks the spec would make the
sandbox serve a response that fails its own validation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from billing_sandbox.proxy.checks import json_path
from billing_sandbox.proxy.record import Exchange, RecordingError, load_exchanges
from billing_sandbox.spec import Spec

if TYPE_CHECKING:
    from billing_sandbox.api import Api


@dataclass(frozen=True)
class Notice:
    """What became of a recorded exchange (or of one record of it) that is not served
    exactly as recorded: skipped, and why; or loaded, and what the sandbox serves otherwise."""

    source: str
    reason: str
    loaded: bool = False

    def __str__(self) -> str:
        return f"{'changed' if self.loaded else 'skipped'} {self.source}: {self.reason}"


@dataclass(frozen=True)
class Recordings:
    """The usable exchanges of a recordings directory, by API, in recorded order."""

    directory: Path | None = None
    by_api: Mapping[str, tuple[Exchange, ...]] = field(default_factory=dict)
    # Exchanges that hold no records (tokens, sign-ins, errors) are passed over silently.
    ignored: int = 0
    notices: tuple[Notice, ...] = ()

    @property
    def skipped(self) -> tuple[Notice, ...]:
        return tuple(notice for notice in self.notices if not notice.loaded)

    @property
    def changed(self) -> tuple[Notice, ...]:
        """Records loaded, but served with some recorded value the sandbox does not keep."""
        return tuple(notice for notice in self.notices if notice.loaded)

    def of(self, api_name: str) -> tuple[Exchange, ...]:
        return self.by_api.get(api_name, ())

    def summary(self) -> str:
        """One line for the banner: what was loaded from where, and how much was not."""
        loaded = ", ".join(f"{name} {len(found)}" for name, found in self.by_api.items())
        text = f"{self.directory}: {loaded or 'no'} exchanges with records"
        if self.ignored:
            text += f"; {self.ignored} without records passed over"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        if self.changed:
            text += f"; {len(self.changed)} loaded with changes"
        if self.notices:
            text += " (see below)"
        return text


def read_recordings(
    directory: Path, apis: Mapping[str, Api], specs: Mapping[str, Spec]
) -> Recordings:
    """The exchanges in `directory` whose answers the sandbox can serve as seed data, or a
    `RecordingError` when the directory or one of its files cannot be read at all. `specs`
    are by name (the spec file's stem)."""
    if not directory.is_dir():
        raise RecordingError(f"recordings directory {directory} does not exist")
    by_api: dict[str, list[Exchange]] = {}
    ignored = 0
    skipped: list[Notice] = []
    for exchange in load_exchanges(directory):
        api = apis.get(exchange.api)
        if api is None or api.load_recorded is None:
            problem = f"no API of the sandbox is called {exchange.api!r}"
            if api is not None:
                problem = f"the sandbox loads no recordings of {exchange.api!r}"
            skipped.append(Notice(exchange.source, problem))
            continue
        # A HEAD answer has no body to take records from.
        holds_none = exchange.method == "HEAD" or exchange.status >= 300
        if exchange.operation_id not in api.recorded_operations or holds_none:
            ignored += 1
            continue
        breach = _breach(exchange, specs[Path(api.spec_file).stem])
        if breach is not None:
            skipped.append(Notice(exchange.source, breach))
            continue
        by_api.setdefault(api.name, []).append(exchange)
    return Recordings(
        directory,
        {name: tuple(found) for name, found in by_api.items()},
        ignored,
        tuple(skipped),
    )


def _breach(exchange: Exchange, spec: Spec) -> str | None:
    """How the recorded answer breaks the spec as it is today (recordings outlive specs)."""
    [op] = [op for op in spec.operations if op.operation_id == exchange.operation_id]
    if exchange.status not in op.response_checks:
        return f"status {exchange.status} is not declared for {op.operation_id}"
    check = op.response_checks[exchange.status]
    if check is None:
        return None
    issues = check.issues(exchange.response.body, "response")
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        return f"the answer breaks the spec at {json_path(first.path)}: {first.message}{more}"
    return None


def notice_lines(found: Sequence[Notice], most: int = 20) -> str:
    """The banner's list of what was skipped or changed, one per line, the first `most` of
    them (a recording of a real server's pages can name hundreds)."""
    lines = [f"\n               {item}" for item in found[:most]]
    if len(found) > most:
        lines.append(f"\n               … and {len(found) - most} more")
    return "".join(lines)
