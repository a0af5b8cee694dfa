"""Whether a fault rule can ever fire, checked against the specs when it is made: a rule that
names an operation no API has, another API's operation, or a status its operations do not
declare is refused (a 422 saying why), rather than kept waiting for a call that never comes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from billing_sandbox.errors import Unprocessable, counted
from billing_sandbox.faults.rules import Effect, Match
from billing_sandbox.spec.document import Operation

NEVER = "this fault rule can never fire"


@dataclass(frozen=True)
class Target:
    """What a rule may meet: an operation of an API, and the error statuses it declares (None:
    any, for a step beyond the spec such as Decoda's `settleInstallment`, which any effect
    makes fail)."""

    api: str
    operation_id: str
    method: str
    template: str
    statuses: frozenset[int] | None

    def called_as(self, method: str | None, path: str | None) -> bool:
        """Whether a call with this method and path (the request's, or a template) is it."""
        if method is not None and method.upper() != self.method:
            return False
        if path is None or path == self.template:
            return True
        # A path with `{…}` in it is a template, matched as written, never as a request's.
        return "{" not in path and bool(_pattern(self.template).fullmatch(path))


def _pattern(template: str) -> re.Pattern[str]:
    """The paths a template stands for: a parameter is any one segment; a trailing slash is
    tolerated (MYCURE's Express serves `/billing-soas/` as `/billing-soas`)."""
    parts = re.split(r"\{[^}/]+\}", template)
    return re.compile("[^/]+".join(map(re.escape, parts)) + "/?")


def targets(
    operations: Mapping[str, Iterable[Operation]],
    steps: Mapping[str, Iterable[tuple[str, str, str]]],
) -> list[Target]:
    """Every operation of each API, and the steps beyond its spec that rules meet
    (operationId, method, path template), by API name."""
    found = [
        Target(
            api,
            op.operation_id,
            op.method,
            op.path,
            frozenset(status for status in op.response_checks if status >= 400),
        )
        for api, ops in operations.items()
        for op in ops
    ]
    found += [Target(api, *step, None) for api, named in steps.items() for step in named]
    return found


def check_reach(match: Match, effect: Effect, every: Sequence[Target]) -> None:
    """Return when some call can meet the rule and be answered as it asks; else raise
    `Unprocessable` saying why none ever can."""
    named = [t for t in every if match.api is None or t.api == match.api]
    if match.operation_id is not None:
        in_api = named
        named = [t for t in in_api if t.operation_id == match.operation_id]
        if not named:
            raise Unprocessable(_unknown_operation(match, every, in_api))
    reached = [t for t in named if t.called_as(match.method, match.path)]
    if not reached:
        raise Unprocessable(_no_call(match, named))
    status = effect.status
    if status is None or any(t.statuses is None or status in t.statuses for t in reached):
        return
    declared = ", ".join(map(str, sorted({code for t in reached for code in t.statuses or ()})))
    if len(reached) == 1:
        said = f"{reached[0].operation_id} does not declare {status}; it declares {declared}"
    else:
        matched = counted(len(reached), "operation")
        said = f"none of the {matched} it matches declares {status}; they declare {declared}"
    raise Unprocessable(f"{NEVER}: {said}")


def _unknown_operation(match: Match, every: Sequence[Target], in_api: Sequence[Target]) -> str:
    """Why no operation has the rule's operationId: it is another API's, or none's (then the
    names closest to it)."""
    wanted = match.operation_id or ""
    owners = sorted({t.api for t in every if t.operation_id == wanted})
    if owners:
        return f"{NEVER}: {wanted} is an operation of {_and(owners)}, not of {match.api}"
    owner = {t.operation_id: t.api for t in in_api}
    close = difflib.get_close_matches(wanted, sorted(owner), n=3, cutoff=0.6)
    if not close:
        # Mistyped in case only (`CreateCharge`, `GETWRITEOFFS`) is close too.
        lowered = {name.lower(): name for name in sorted(owner)}
        close = [lowered[n] for n in difflib.get_close_matches(wanted.lower(), lowered, 3, 0.6)]
    if match.api is None:
        said = f"{NEVER}: no API has an operation {wanted}"
        close = [f"{name} ({owner[name]})" for name in close]
    else:
        said = f"{NEVER}: {match.api} has no operation {wanted}"
    if not close:
        return f"{said}, nor one close to it; each API's spec lists its own (GET / links them)"
    return f"{said}; the closest: {_or(close)}"


def _no_call(match: Match, named: Sequence[Target]) -> str:
    """Why no call of the operations left has the rule's method and path."""
    asked = [
        f"{name} {value}"
        for name, value in (
            ("api", match.api),
            ("operationId", match.operation_id),
            ("method", None if match.method is None else match.method.upper()),
            ("path", match.path),
        )
        if value is not None
    ]
    said = f"{NEVER}: no operation has {_and(asked)}"
    if match.operation_id is not None:
        return f"{said}; {match.operation_id} is {_or([f'{t.method} {t.template}' for t in named])}"
    if match.path is not None and "{" in match.path:
        # The template meant, spelled with other parameter names (`{charge_id}` for `{id}`).
        meant = sorted({t.template for t in named if _pattern(t.template).fullmatch(match.path)})
        if meant:
            return f"{said}; a template matches as the spec spells it: {_or(meant)}"
    return said


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
