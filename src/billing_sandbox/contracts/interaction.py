"""One interaction of a pact, read into the model: its provider states, the request a consumer
makes and the response it expects, each field checked where it is so a problem names its
place. v2's and v3/v4's spellings (a single `providerState`, a query string) end alike."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

from billing_sandbox.contracts.bodies import read_body
from billing_sandbox.contracts.model import Interaction, ProviderState, Request, Response
from billing_sandbox.contracts.problems import Problems, kind_of, must_be, place_in
from billing_sandbox.contracts.rules import read_generators, read_rules

# Our own exports name the sandbox tenant that recorded an interaction here, under `comments`.
STORY_SECTION: Final = "billing-sandbox"


def read_interaction(
    index: int, item: dict[str, Any], major: int, where: str, problems: Problems
) -> Interaction | str | None:
    """The interaction; a string saying why it is left out (a binary body); None when it has
    problems (they are added)."""
    before = len(problems.lines)
    description = item.get("description")
    if not isinstance(description, str):
        problems.add(f"{where}.description", must_be("a string", description))
    states = _provider_states(item, where, problems)
    request = _request(item.get("request"), f"{where}.request", major, problems)
    response = _response(item.get("response"), f"{where}.response", major, problems)
    story = _story(item.get("comments"), f"{where}.comments", problems)
    if len(problems.lines) > before or request is None or response is None:
        return None
    if isinstance(request, str):
        return request
    if isinstance(response, str):
        return response
    return Interaction(
        index=index,
        description=str(description),
        provider_states=states,
        request=request,
        response=response,
        story=story,
    )


def _provider_states(
    item: dict[str, Any], where: str, problems: Problems
) -> tuple[ProviderState, ...]:
    if "providerStates" in item:
        raw = item["providerStates"]
        at = f"{where}.providerStates"
        if raw is None:
            return ()
        if not isinstance(raw, list):
            problems.add(at, f"must be a list of {{name, params}}, got {kind_of(raw)}")
            return ()
        return tuple(
            state
            for position, entry in enumerate(raw)
            if (state := _provider_state(entry, f"{at}[{position}]", problems)) is not None
        )
    for key in ("providerState", "provider_state"):  # v2, and v1's spelling
        if key in item:
            name = item[key]
            if name is None or name == "":
                return ()
            if not isinstance(name, str):
                problems.add(f"{where}.{key}", must_be("a string", name))
                return ()
            return (ProviderState(name),)
    return ()


def _provider_state(entry: Any, at: str, problems: Problems) -> ProviderState | None:
    if not isinstance(entry, dict):
        problems.add(at, f"must be an object with a name, got {kind_of(entry)}")
        return None
    name = entry.get("name")
    params = entry.get("params")
    if not isinstance(name, str):
        problems.add(f"{at}.name", must_be("a string", name))
        return None
    if params is None:
        return ProviderState(name)
    if not isinstance(params, dict):
        problems.add(f"{at}.params", must_be("an object", params))
        return None
    return ProviderState(name, dict(params))


def _story(comments: Any, at: str, problems: Problems) -> str | None:
    """The recording tenant our own exports put in `comments`; None in anyone else's pact."""
    section = comments.get(STORY_SECTION) if isinstance(comments, dict) else None
    if not isinstance(section, dict) or "story" not in section:
        return None
    story = section["story"]
    if not isinstance(story, str) or not story:
        problems.add(f"{at}.{STORY_SECTION}.story", must_be("a non-empty string", story))
        return None
    return story


def _request(raw: Any, at: str, major: int, problems: Problems) -> Request | str | None:
    if not isinstance(raw, dict):
        problems.add(at, "missing" if raw is None else must_be("an object", raw))
        return None
    method = raw.get("method")
    if not isinstance(method, str) or not method.strip():
        problems.add(f"{at}.method", must_be("an HTTP method", method))
        method = ""
    path = raw.get("path", "/")
    if not isinstance(path, str):
        problems.add(f"{at}.path", must_be("a string", path))
        path = "/"
    headers = _headers(raw.get("headers"), f"{at}.headers", problems)
    body = read_body(raw, f"{at}.body", major, headers, problems)
    if body.binary:
        return "its request body is binary, which the tools do not send"
    return Request(
        method=method.strip().upper(),
        path=path,
        query=_query(raw.get("query"), f"{at}.query", problems),
        headers=headers,
        body=body.value,
        has_body=body.present,
        rules=read_rules(raw.get("matchingRules"), f"{at}.matchingRules", problems),
        generators=read_generators(raw.get("generators"), f"{at}.generators", problems),
    )


def _response(raw: Any, at: str, major: int, problems: Problems) -> Response | str | None:
    if not isinstance(raw, dict):
        problems.add(at, "missing" if raw is None else must_be("an object", raw))
        return None
    status = raw.get("status", 200)  # Pact's own default, for v1 pacts that leave it out
    if not isinstance(status, int) or isinstance(status, bool):
        problems.add(f"{at}.status", must_be("an integer", status))
        status = 0
    elif not 100 <= status <= 599:
        problems.add(f"{at}.status", f"must be an HTTP status (100 to 599), got {status}")
    headers = _headers(raw.get("headers"), f"{at}.headers", problems)
    body = read_body(raw, f"{at}.body", major, headers, problems)
    if body.binary:
        return "its response body is binary, which the tools do not compare"
    return Response(
        status=status,
        headers=headers,
        body=body.value,
        has_body=body.present,
        rules=read_rules(raw.get("matchingRules"), f"{at}.matchingRules", problems),
        generators=read_generators(raw.get("generators"), f"{at}.generators", problems),
    )


def _headers(raw: Any, at: str, problems: Problems) -> dict[str, str]:
    """Header names as the pact spells them; v4's lists of values joined as HTTP joins them."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.add(at, must_be("an object", raw))
        return {}
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            headers[name] = value
        elif isinstance(value, list) and all(isinstance(part, str) for part in value):
            headers[name] = ", ".join(value)
        else:
            problems.add(place_in(at, name), must_be("a string or a list of strings", value))
    return headers


def _query(raw: Any, at: str, problems: Problems) -> dict[str, list[str]]:
    """v2's query string (`a=1&b=2`) or v3/v4's object of lists, as an object of lists."""
    if raw is None or raw == "":
        return {}
    query: dict[str, list[str]] = {}
    if isinstance(raw, str):
        for name, value in parse_qsl(raw, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        return query
    if not isinstance(raw, dict):
        problems.add(at, must_be('a query string ("a=1&b=2") or an object of lists', raw))
        return {}
    for name, value in raw.items():
        if isinstance(value, str):
            query[name] = [value]
        elif isinstance(value, list) and all(isinstance(part, str) for part in value):
            query[name] = list(value)
        else:
            problems.add(place_in(at, name), must_be("a list of strings", value))
    return query
