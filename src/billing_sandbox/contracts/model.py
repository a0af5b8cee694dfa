"""A pact as the contract tools read it, whichever Pact specification wrote it (v2, v3 or v4):
its HTTP interactions, each with the provider states it needs, the request a consumer makes and
the response it expects, and the matching rules and generators that loosen the examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Matching-rule and generator categories, as Pact v3/v4 name them.
CATEGORIES = ("path", "query", "header", "body", "status")


@dataclass(frozen=True)
class RuleSet:
    """The matchers at one place (a body path such as `$.data[*].id`, a header or query name,
    or "" for the path and the status): each a Pact matcher object such as `{"match": "type"}`
    or `{"match": "regex", "regex": "^ch_"}`; `combine` says whether all (AND) or one (OR)
    must hold."""

    matchers: tuple[dict[str, Any], ...]
    combine: str = "AND"


# Category → where in it (a JSON path for the body, a name for headers and query, "" for the
# path and the status) → its rules.
Rules = dict[str, dict[str, RuleSet]]
# Category → where in it → a generator object (`{"type": "ProviderState", "expression": …}`).
Generators = dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class ProviderState:
    """What the provider must hold before the interaction: a name, and its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str  # upper case
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # as the pact spells the names
    body: Any = None  # parsed JSON, or text for other content types
    has_body: bool = False
    rules: Rules = field(default_factory=dict)
    generators: Generators = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    has_body: bool = False
    rules: Rules = field(default_factory=dict)
    generators: Generators = field(default_factory=dict)


@dataclass(frozen=True)
class Interaction:
    """One HTTP interaction. `story`: the sandbox tenant that recorded it, for pacts exported by
    billing-sandbox (interactions of one story replay in order on one tenant, so a later one may
    use what an earlier one created); None for pacts other tools wrote, whose interactions each
    stand alone, as Pact verifiers take them."""

    index: int  # its place in the file, from 0
    description: str
    provider_states: tuple[ProviderState, ...]
    request: Request
    response: Response
    story: str | None = None

    @property
    def label(self) -> str:
        """How a report names it: its place and its description."""
        return f"#{self.index + 1} {self.description}"


@dataclass(frozen=True)
class Pact:
    consumer: str
    provider: str
    specification: str  # the Pact specification version the file declares, e.g. "4.0"
    interactions: tuple[Interaction, ...]
    source: str = ""  # the file it was read from
    # Interactions left out, each said: messages and other kinds that are not HTTP.
    skipped: tuple[str, ...] = ()


class PactInvalid(ValueError):
    """A file that is not a pact the tools can read: `problems` says where and why, a line each,
    such as `interactions[2].response.status: must be an integer, got "200"`."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: not a readable pact: " + "; ".join(problems))
