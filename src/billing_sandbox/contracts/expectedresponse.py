"""The answer a verification expects for one interaction: the pact's recorded response, with its
ProviderState generators filled from what this run's provider-state setups answered, as Pact's
verifiers fill them. The recorded answer holds the ids of the run that recorded it; this run's
answer holds this run's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from billing_sandbox.contracts.generators import Generating, generate_in_body
from billing_sandbox.contracts.model import Response


def expected_response(
    response: Response, state_values: Mapping[str, Any] | None
) -> tuple[Response, list[str]]:
    """The answer to expect: `response` with its ProviderState generators run on its body
    and headers from `state_values` (what the provider-state setups answered), as Pact's
    verifiers run them: a charge the consumer fetched by a scenario's id is expected to carry
    this run's id. A value no setup answered, or no state set at all, leaves the example
    expected, noted. The other kinds (random values, dates) make values no answer can equal;
    the consumer's matchers at those places judge them."""
    generators = response.generators
    if not any(
        generator.get("type") == "ProviderState"
        for category in ("body", "header")
        for generator in generators.get(category, {}).values()
    ):
        return response, []
    notes: list[str] = []
    run = Generating(state_values, notes, missing_fails=False)
    body, headers = response.body, dict(response.headers)
    for name, generator in generators.get("header", {}).items():
        if generator.get("type") != "ProviderState":
            continue
        known = next((h for h in headers if h.lower() == name.lower()), None)
        if known is not None:
            headers[known] = str(run(generator, headers[known], f"response header {name}"))
    for where, generator in generators.get("body", {}).items():
        if generator.get("type") == "ProviderState":
            body = generate_in_body(body, where, generator, run, notes, "response body")
    return dataclasses.replace(response, body=body, headers=headers), notes
