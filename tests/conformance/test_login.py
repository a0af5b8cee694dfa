"""Signing in to a server before a run (conformance, contract verify): credentials never follow
a redirect, an answer is read only so far and so long, and a URL carrying a password is
refused without printing it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billing_sandbox.conformance import login
from billing_sandbox.conformance.login import CannotRun, Credentials, authenticate

DECODA = Credentials(decoda_tenant="acme", decoda_api_key="decoda-KEY-SECRET")


class Vendor(BaseHTTPRequestHandler):
    """A stand-in vendor: `mode` says how it answers; `seen` keeps the headers it got."""

    mode = "plain"
    seen: list[dict[str, str]] = []  # noqa: RUF012 (one list per test: see `vendor`)
    elsewhere = ""

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        # The client may stop reading, as it should with an answer too big.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer()

    def _answer(self) -> None:
        if self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.elsewhere}/stolen")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.mode == "huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            for _ in range(10 * 1024):
                self.wfile.write(b"x" * 1024)
        elif self.mode == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vendor() -> Iterator[tuple[str, type[Vendor]]]:
    handler = type("OneVendor", (Vendor,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_do_not_follow_a_redirect(vendor: tuple[str, type[Vendor]]) -> None:
    url, handler = vendor
    other = ThreadingHTTPServer(("127.0.0.1", 0), type("Other", (Vendor,), {"seen": []}))
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        handler.mode, handler.elsewhere = "redirect", f"http://127.0.0.1:{other.server_address[1]}"
        with pytest.raises(CannotRun, match=r"answered 302 to .*/stolen: credentials are not sent"):
            authenticate("decoda", url, DECODA)
        assert other.RequestHandlerClass.seen == []  # type: ignore[attr-defined]
    finally:
        other.shutdown()
        other.server_close()


def test_an_answer_is_read_only_so_far(vendor: tuple[str, type[Vendor]]) -> None:
    url, handler = vendor
    handler.mode = "huge"
    with pytest.raises(CannotRun, match="answered more than 256 KiB"):
        authenticate("decoda", url, DECODA)


def test_an_answer_is_waited_for_only_so_long(
    vendor: tuple[str, type[Vendor]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = vendor
    handler.mode = "drip"  # a byte every 50 ms: each read is quick, the whole answer is not
    monkeypatch.setattr(login, "TIMEOUT_SECONDS", 1)
    started = time.monotonic()
    with pytest.raises(CannotRun, match="gave no whole answer within 1 s"):
        authenticate("decoda", url, DECODA)
    assert time.monotonic() - started < 4


def test_a_password_in_the_url_is_refused_and_not_repeated() -> None:
    with pytest.raises(CannotRun) as refused:
        authenticate("decoda", "http://admin:PASSWORD-in-url@127.0.0.1:9/", DECODA)
    assert "carries a user name or password" in str(refused.value)
    assert "PASSWORD-in-url" not in str(refused.value)


def test_a_plain_vendor_signs_in(vendor: tuple[str, type[Vendor]]) -> None:
    url, handler = vendor
    auth = authenticate("decoda", url, DECODA)
    assert auth.schemes == {"Tenant": "acme", "ApiKey": "decoda-KEY-SECRET"}
    assert handler.seen[0]["API-KEY"] == "decoda-KEY-SECRET"
