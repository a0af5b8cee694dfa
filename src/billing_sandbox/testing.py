"""Helpers for testing code against the sandbox: a live server and tenants with credentials."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from billing_sandbox.settings import Settings

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 10
HTTP_TIMEOUT_SECONDS = 10
# A tenant id is also the MYCURE organisation, an email domain: lower case (MYCURE lowercases
# emails, so an upper-case id would split one tenant in two), no `@`, `/` or spaces.
_TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


class SandboxError(RuntimeError):
    """The sandbox could not be reached, or refused a call the helpers made for you."""


@dataclass(frozen=True)
class SandboxTenant:
    """One tenant of a running sandbox, with credentials for all three APIs.

    `id` is at once the Candid client id, the Decoda `TENANT` and the MYCURE organisation
    (the domain of `mycure_email`), so the three APIs' data of one tenant live together and
    `/_sandbox/tenants/{id}/…` (reset, reference data) reaches all of it. Secrets, keys and
    passwords can be anything non-empty, as the sandbox accepts any unless it runs in strict
    mode (a credentials file), where only the logins listed there get in.
    """

    id: str
    base_url: str
    candid_client_secret: str = "sandbox-secret"
    decoda_api_key: str = "sandbox-api-key"
    mycure_password: str = "sandbox-password"
    # For the control API (`reset`), when the sandbox was started with a control token.
    control_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not _TENANT_ID.fullmatch(self.id):
            raise ValueError(f"a tenant id is lower-case letters, digits, '.' and '-': {self.id!r}")

    @property
    def candid_client_id(self) -> str:
        return self.id

    @property
    def decoda_headers(self) -> dict[str, str]:
        """The `TENANT` and `API-KEY` headers Decoda expects on every call."""
        return {"TENANT": self.id, "API-KEY": self.decoda_api_key}

    @property
    def mycure_email(self) -> str:
        return f"tester@{self.id}"

    @property
    def mycure_organisation(self) -> str:
        return self.id

    def candid_token(self) -> str:
        """A fresh Candid bearer token, from `POST /api/auth/v2/token`."""
        body = {"client_id": self.candid_client_id, "client_secret": self.candid_client_secret}
        answer = request_json("POST", f"{self.base_url}/api/auth/v2/token", body)
        return str(answer["access_token"])

    def candid_headers(self) -> dict[str, str]:
        """`Authorization: Bearer …` with a fresh Candid token (one call to the sandbox)."""
        return {"Authorization": f"Bearer {self.candid_token()}"}

    def mycure_token(self) -> str:
        """A fresh MYCURE access token: a local sign-in, which creates the account if needed."""
        body = {"strategy": "local", "email": self.mycure_email, "password": self.mycure_password}
        answer = request_json("POST", f"{self.base_url}/authentication", body)
        return str(answer["accessToken"])

    def mycure_headers(self) -> dict[str, str]:
        """`Authorization: Bearer …` with a fresh MYCURE token (one call to the sandbox)."""
        return {"Authorization": f"Bearer {self.mycure_token()}"}

    def reset(self) -> None:
        """Forget this tenant's records in all three APIs; it is re-seeded on its next call."""
        url = f"{self.base_url}/_sandbox/tenants/{self.id}/reset"
        request_json("POST", url, headers=control_headers(self.control_token))


# What the `sandbox_tenant_factory` fixture is: a name in, that test's tenant of that name out.
SandboxTenantFactory = Callable[[str], SandboxTenant]


@dataclass(frozen=True)
class SandboxServer:
    """A running sandbox: its base URL and, when this process serves it, its settings."""

    url: str
    settings: Settings | None = None
    # Sent to the control API when set: `BILLING_SANDBOX_CONTROL_TOKEN`, as the server reads it.
    control_token: str = field(default="", repr=False)

    def tenant(self, tenant_id: str) -> SandboxTenant:
        """The tenant `tenant_id` of this sandbox, as it is (see `SandboxTenant.reset`)."""
        return SandboxTenant(tenant_id, self.url, control_token=self.control_token)

    def health(self) -> dict[str, Any]:
        """`GET /_sandbox/health`; raises `SandboxError` when nothing answers."""
        url = f"{self.url}/_sandbox/health"
        answer: dict[str, Any] = request_json(
            "GET", url, headers=control_headers(self.control_token)
        )
        return answer


def tenant_id(node_id: str, name: str = "") -> str:
    """A tenant id for the test `node_id` (and a `name` within it): readable, and unique.

    The readable part is the test's name; the hash of the whole node id keeps tests of the
    same name in different files (or xdist workers sharing one sandbox) apart. The same test
    gets the same id on every run, so its seeded data is the same on every run too.
    """
    readable = "-".join(part for part in (node_id.rpartition("::")[2], name) if part)
    slug = re.sub(r"[^a-z0-9]+", "-", readable.lower()).strip("-")[:40].strip("-") or "test"
    digest = hashlib.sha256(f"{node_id}\0{name}".encode()).hexdigest()[:8]
    # `.test` is reserved for testing (RFC 2606): the id is a MYCURE email domain as well.
    return f"{slug}-{digest}.test"


@contextmanager
def serve(settings: Settings | None = None) -> Iterator[SandboxServer]:
    """Serve the sandbox on a free loopback port, in a background thread, until the block ends."""
    # Imported here: a project that uses a sandbox already running (`--billing-sandbox-url`)
    # needs none of the server's dependencies, Faker's exact pin among them.
    import uvicorn

    from billing_sandbox.app import create_app

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Binding port 0 here, not in uvicorn, tells us the port before the server starts.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
        settings = replace(settings or Settings(), host=LOOPBACK, port=port)
        # log_config=None: a plugin must not reconfigure the logging of the project under test;
        # uvicorn's own loggers then propagate to the root logger, which pytest captures.
        config = uvicorn.Config(
            create_app(settings), log_config=None, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="billing-sandbox", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise SandboxError(
                        f"the sandbox did not start within {START_TIMEOUT_SECONDS} s"
                    )
                time.sleep(0.01)
            yield SandboxServer(f"http://{LOOPBACK}:{port}", settings, settings.control_token)
        finally:
            server.should_exit = True
            thread.join(timeout=START_TIMEOUT_SECONDS)


def control_headers(control_token: str) -> dict[str, str]:
    """The control API's credentials: none, or the sandbox's control token as a bearer token."""
    return {"Authorization": f"Bearer {control_token}"} if control_token else {}


def request_json(
    method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Any:
    """One JSON call with the standard library, so the helpers need no HTTP client installed."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    call = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:  # an unclosed error response is a ResourceWarning
            detail = error.read().decode(errors="replace")
        raise SandboxError(f"{method} {url} answered {error.code}: {detail}") from None
    except urllib.error.URLError as error:
        raise SandboxError(f"no sandbox answers at {url}: {error.reason}") from error
