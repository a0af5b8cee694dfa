"""The one place the testing helpers speak HTTP (httpx): the control token, and `SandboxError`."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

TIMEOUT_SECONDS = 10.0


class SandboxError(RuntimeError):
    """The sandbox could not be reached, or refused a call the helpers made for you.

    `status` is the HTTP status it answered (None when nothing answered), `message` what it
    said (the `message` of its JSON error, else the body) and `body` the parsed JSON, if any.
    """

    def __init__(
        self, text: str, status: int | None = None, message: str = "", body: Any = None
    ) -> None:
        super().__init__(text)
        self.status = status
        self.message = message or text
        self.body = body


class Connection:
    """A sandbox's base URL and control token. Every call is a short-lived httpx client, so
    nothing stays open between calls and an object left behind leaks no socket."""

    def __init__(self, url: str, control_token: str = "", timeout: float = TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self.control_token = control_token
        self.timeout = timeout
        self._tls: ssl.SSLContext | None = None

    def control(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        """One call to the control API (`/_sandbox/…`), with the control token when set."""
        token = {"Authorization": f"Bearer {self.control_token}"} if self.control_token else {}
        return self.call(method, f"/_sandbox{path}", params=params, json=json, headers=token)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`method path` with a JSON body; its JSON answer, or `SandboxError` saying why not."""
        url = self.url + path
        headers = {"Accept": "application/json", **(headers or {})}
        try:
            with httpx.Client(timeout=self.timeout, verify=self._tls_context()) as client:
                response = client.request(method, url, params=params, json=json, headers=headers)
        except httpx.TimeoutException as error:
            raise SandboxError(
                f"{method} {url}: the sandbox at {self.url} did not answer within "
                f"{self.timeout:g} s"
            ) from error
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            reason = f"{type(error).__name__}: {error}"
            raise SandboxError(f"no sandbox answers at {self.url} ({reason})") from error
        body = _json(response)
        if response.is_success and (body is not None or not response.content):
            return body
        message = _message(body) or response.text[:500] or response.reason_phrase
        raise SandboxError(
            f"{method} {url} answered {response.status_code}: {message}",
            response.status_code,
            message,
            body,
        )

    def _tls_context(self) -> ssl.SSLContext:
        # httpx loads its CA bundle for every client it makes (some 50 ms): an https sandbox
        # loads one once, a plain-http one (never speaking TLS) needs none loaded at all.
        if self._tls is None:
            if self.url.startswith("https:"):
                self._tls = ssl.create_default_context()
            else:
                self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self._tls


def segment(value: str) -> str:
    """`value` as one path segment (a tenant id or a rule id holds no `/` of ours)."""
    return quote(value, safe="")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(body: Any) -> str:
    """What an error envelope says: the control API's `{error, message}`, Feathers' `{name,
    message}`; other envelopes (Candid's, Decoda's) are shown whole by the caller."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return ""
    kind = body.get("error") or body.get("name")
    return f"{kind}: {body['message']}" if isinstance(kind, str) else str(body["message"])
