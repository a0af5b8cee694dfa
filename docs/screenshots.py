"""By hand: the README's dashboard screenshots, taken from the running product.

Starts `billing-sandbox serve` on a free loopback port, makes a few calls (one refused by
validation, one met by a fault rule), and photographs the Requests page with that failure's
detail open and the Tenants page, in headless Chromium (Debian's), at 1280x800:

    .venv/bin/python docs/screenshots.py          # writes docs/dashboard-*.png
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


def main() -> int:
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
            page.goto(f"{base}/_sandbox/ui/requests")
            page.locator('#requests tbody tr[data-status="422"] button').click()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(HERE / "dashboard-requests.png"))
            page.goto(f"{base}/_sandbox/ui/tenants")
            page.locator("#tenants tr[data-tenant]").first.wait_for()
            page.screenshot(path=str(HERE / "dashboard-tenants.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("screenshots: docs/dashboard-requests.png, docs/dashboard-tenants.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
