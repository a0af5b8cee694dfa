"""By hand: the README's dashboard screenshots, taken from the running product.

Starts `billing-sandbox serve` on a free loopback port, makes a few calls (one refused by
validation, one met by a fault rule), and photographs the Requests page with that failure's
detail open and the Tenants page, in headless Chromium (Debian's), at 1280x800; then sends
about ten seconds of mixed traffic (some of it failing) and photographs the overview's charts:

    .venv/bin/python docs/screenshots.py             # writes docs/dashboard-*.png
    .venv/bin/python docs/screenshots.py overview    # only the named ones
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
DECODA = {"TENANT": "acme", "API-KEY": "any"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SHOTS = ("requests", "tenants", "overview")


def mixed_traffic(base: str, seconds: float) -> None:
    """Calls to every API for `seconds`, at a rate that rises and falls, some failing: a
    validation error now and then, and a fault rule failing a share of MYCURE's."""
    rule = {"match": {"api": "mycure"}, "effect": {"status": 503}, "probability": 0.2}
    httpx.post(f"{base}/_sandbox/faults", json=rule)
    token = httpx.post(
        f"{base}/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
    ).json()["access_token"]
    sign_in = {"strategy": "local", "email": "ana@clinic-a.test", "password": "x"}
    mycure = httpx.post(f"{base}/authentication", json=sign_in).json()["accessToken"]
    calls = [
        ("/api/write-offs/v1?limit=5", {"Authorization": f"Bearer {token}"}),
        ("/billing/charge/list", DECODA),
        ("/billing/charge/list", DECODA),
        ("/billing-soas?$limit=3", {"Authorization": f"Bearer {mycure}"}),
        ("/billing/charge/list?status=NOPE", DECODA),
    ]
    start = time.monotonic()
    with httpx.Client(base_url=base) as client:
        tick = 0
        while time.monotonic() - start < seconds:
            tick += 1
            for path, headers in calls[: 2 + tick % 4]:
                client.get(path, headers=headers)
            time.sleep(0.05 + 0.05 * (tick % 3))


def main(wanted: set[str]) -> int:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "billing_sandbox", "serve", "--quiet", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/_sandbox/health")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("screenshots: the sandbox did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
        token = httpx.post(
            f"{base}/api/auth/v2/token", json={"client_id": "acme", "client_secret": "x"}
        ).json()["access_token"]
        httpx.get(f"{base}/api/write-offs/v1?limit=5", headers={"Authorization": f"Bearer {token}"})
        httpx.get(f"{base}/billing/charge/list", headers=DECODA)
        sign_in = {"strategy": "local", "email": "ana@clinic-a.test", "password": "x"}
        mycure = httpx.post(f"{base}/authentication", json=sign_in).json()["accessToken"]
        httpx.get(f"{base}/billing-soas?$limit=3", headers={"Authorization": f"Bearer {mycure}"})
        rule = {"match": {"operationId": "getCharge"}, "effect": {"status": 503}, "count": 1}
        httpx.post(f"{base}/_sandbox/faults", json=rule)
        httpx.get(f"{base}/billing/charge/get/chg_x", headers=DECODA)
        httpx.get(f"{base}/billing/charge/list?status=SETTLED", headers=DECODA)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            if "requests" in wanted:
                page.goto(f"{base}/_sandbox/ui/requests")
                page.locator('#requests tbody tr[data-status="422"] button').click()
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(HERE / "dashboard-requests.png"))
            if "tenants" in wanted:
                page.goto(f"{base}/_sandbox/ui/tenants")
                page.locator("#tenants tr[data-tenant]").first.wait_for()
                page.screenshot(path=str(HERE / "dashboard-tenants.png"))
            if "overview" in wanted:
                page.goto(f"{base}/_sandbox/ui/")
                mixed_traffic(base, 10)
                page.wait_for_timeout(1500)  # the charts' next reading has the last second
                page.screenshot(path=str(HERE / "dashboard-overview.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        "screenshots:", ", ".join(f"docs/dashboard-{name}.png" for name in SHOTS if name in wanted)
    )
    return 0


if __name__ == "__main__":
    names = set(sys.argv[1:]) or set(SHOTS)
    if not names <= set(SHOTS):
        sys.exit(f"screenshots: choose from {', '.join(SHOTS)}")
    sys.exit(main(names))
