"""One request to the server under verification and its answer read whole: within one deadline
for all of it (a server dripping its answer resets no read's timeout), up to a size, its body
parsed as a pact holds one. A request that gets no whole answer is NoAnswer, saying why."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from billing_sandbox.contracts.deadline import Deadline, Overdue
from billing_sandbox.contracts.reading import is_json_media_type


@dataclass(frozen=True)
class Answer:
    """An answer as the matching reads it."""

    status: int
    headers: dict[str, str]
    body: Any
    has_body: bool


class NoAnswer(Exception):
    """A request got no whole answer: the reason."""


def send(
    client: httpx.Client,
    method: str,
    url: str,
    max_bytes: int,
    timeout: float,
    *,
    query: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    json_body: Any = None,
) -> Answer:
    """One request, its answer read whole, up to `max_bytes`, within `timeout` seconds in all
    (a server dripping its answer resets no read's timeout here); NoAnswer says why there is
    none."""
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers = {**(headers or {}), "Content-Type": "application/json"}
    with Deadline(client, timeout) as limit:
        try:
            with client.stream(
                method,
                url,
                params=list(query),
                headers=dict(headers or {}),
                content=content,
                timeout=timeout,
                extensions=limit.extensions,
            ) as response:
                raw = limit.read(response, max_bytes)
        except Overdue as overdue:
            raise NoAnswer(str(overdue)) from None
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeEncodeError) as error:
            if limit.passed or isinstance(error, httpx.TimeoutException):
                raise NoAnswer(f"no whole answer within {timeout:g} s") from None
            raise NoAnswer(f"{type(error).__name__}: {error}") from None
    if raw is None:
        raise NoAnswer(f"the answer is larger than {max_bytes} bytes; not read")
    names = {name.lower() for name in response.headers}
    answered = {name: ", ".join(response.headers.get_list(name)) for name in names}
    content_type = response.headers.get("content-type", "")
    return Answer(
        status=response.status_code,
        headers=answered,
        body=_parsed(raw, content_type),
        has_body=bool(raw),
    )


def _parsed(raw: bytes, content_type: str) -> Any:
    """A body as the pact holds one: parsed JSON when it is JSON, else text."""
    text = raw.decode("utf-8", errors="replace")
    if raw and (is_json_media_type(content_type) or not content_type):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return text
    return text
