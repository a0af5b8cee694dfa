"""One call to each API of a running sandbox, and one spec URL: is the installed package whole?

Usage: python smoke.py BASE_URL. Standard library only (it runs in any environment). Waits up
to 30 s for the server, then exits 0, or 1 naming the first call that failed. With
BILLING_SANDBOX_CONTROL_TOKEN set (a sandbox in a container, say), control calls send it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10


def call(base: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
    """The answer's JSON (or text); anything but a 2xx is a failure naming the call."""
    data = None if body is None else json.dumps(body).encode()
    token = os.environ.get("BILLING_SANDBOX_CONTROL_TOKEN", "")
    if token and path.startswith("/_sandbox/"):
        headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        text = response.read().decode()
    kind = response.headers.get("content-type", "")
    return json.loads(text) if kind.startswith("application/json") else text


def wait_for(base: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            call(base, "GET", "/_sandbox/health")
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                problem = f"smoke: no sandbox answered at {base} within {seconds} s"
                raise SystemExit(problem) from None
            time.sleep(0.2)


def main(base: str) -> None:
    wait_for(base)
    token = call(base, "POST", "/api/auth/v2/token", {"client_id": "smoke", "client_secret": "x"})
    page = call(
        base, "GET", "/api/write-offs/v1?limit=2",
        Authorization=f"Bearer {token['access_token']}",
    )  # fmt: skip
    assert len(page["items"]) == 2, page
    charges = call(base, "GET", "/billing/charge/list", TENANT="smoke", **{"API-KEY": "k"})
    assert charges, charges
    login = {"strategy": "local", "email": "smoke@clinic.test", "password": "x"}
    signed_in = call(base, "POST", "/authentication", login)
    soas = call(
        base, "GET", "/billing-soas?$limit=2", Authorization=f"Bearer {signed_in['accessToken']}"
    )
    assert len(soas) == 2, soas
    # MYCURE's live updates: the Socket.IO handshake in Engine.IO 3's framing (`<length>:` and
    # an open packet, `0{"sid": …}`), as the socket.io 2 under Feathers 4 answers it.
    handshake = call(base, "GET", "/socket.io/?EIO=3&transport=polling&b64=1")
    assert re.match(r'\d+:0\{"sid"', handshake), handshake[:80]
    spec = call(base, "GET", "/_sandbox/openapi/candid-write-offs.yaml")
    assert spec.startswith("openapi: 3.1"), spec[:80]
    dashboard = call(base, "GET", "/_sandbox/ui/requests")
    assert "<h1>Requests</h1>" in dashboard, dashboard[:200]
    script = call(base, "GET", "/_sandbox/ui/static/dashboard.js")
    assert "EventSource" in script, script[:80]
    # The shipped scenario packs, found where the package is installed (two per API).
    packs = call(base, "GET", "/_sandbox/scenarios")["scenarios"]
    shipped = [pack["name"] for pack in packs if pack["source"] == "shipped"]
    assert len(shipped) >= 6 and "decoda-overdue-clinic" in shipped, packs
    print(
        f"smoke: {base} serves Candid, Decoda, MYCURE and its socket, specs, the dashboard, "
        f"{len(shipped)} scenario packs"
    )


if __name__ == "__main__":
    try:
        main(sys.argv[1].rstrip("/"))
    except (AssertionError, urllib.error.HTTPError) as error:
        raise SystemExit(f"smoke: failed: {error!r}") from None
