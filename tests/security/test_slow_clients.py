"""Slow and greedy clients, over raw sockets against a real `billing-sandbox serve`: a request
head over the cap is answered 431, one that does not arrive in time closes its connection,
connections past the cap are answered 503, and meanwhile the server answers everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support.processes import serving

HEAD_TIMEOUT = 1  # seconds: `--head-timeout`, small so that these tests stay fast
MAX_CONNECTIONS = 3
MAX_HEAD = 16_384  # the default `--max-head-bytes`
HEALTH = b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# Longest a closed connection may take to be seen closed, past the timeout (a loaded CI host).
SLACK = 1.5


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, list[str]]]:
    """The server's port, and (after the module) what it logged."""
    options = ("--head-timeout", str(HEAD_TIMEOUT), "--max-connections", str(MAX_CONNECTIONS))
    logged: list[str] = []
    with serving(*options) as (base, process):
        yield int(base.rsplit(":", 1)[1]), logged
        process.terminate()
        _, stderr = process.communicate(timeout=15)
        logged.append(stderr)
    # One line per refusal, never a traceback.
    assert "Traceback" not in logged[0], logged[0]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HEAD_TIMEOUT + SLACK + 3)


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def whole_answer(sock: socket.socket) -> bytes:
    """One answer on a kept-alive connection, head and body (which may come apart)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += _more(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _more(sock)
    return received[: len(head) + 4] + body


def _more(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection mid-answer"
    return chunk


def healthy(port: int) -> None:
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=2)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 0.5


@settings(max_examples=12, deadline=None)
# A whole head a byte over, arriving at once: measured as sent, not as parsed.
@example(over=1, piece=70_000, whole=True)
@given(
    over=st.integers(1, 50_000),
    piece=st.sampled_from([100, 4096, 70_000]),
    whole=st.booleans(),
)
def test_a_head_over_the_cap_is_431_however_it_arrives(
    server: tuple[int, list[str]], over: int, piece: int, whole: bool
) -> None:
    port, _ = server
    head = b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
    head += b"p" * (MAX_HEAD - len(head) + over)
    if whole:
        head += b"\r\n\r\n"
    with connect(port) as sock:
        try:
            for start in range(0, len(head), piece):
                sock.sendall(head[start : start + piece])
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the rest was sent: the answer is already waiting
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert answer.endswith(f"\r\n\r\nthe request head is over {MAX_HEAD} bytes\n".encode())
    healthy(port)


def test_a_head_just_under_the_cap_is_answered(server: tuple[int, list[str]]) -> None:
    port, _ = server
    head = b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-P: "
    head += b"p" * (MAX_HEAD - len(head) - 200) + b"\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(head)
        assert answer_of(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_slowloris_is_closed_within_the_head_timeout_while_others_are_served(
    server: tuple[int, list[str]],
) -> None:
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        opened = time.monotonic()
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - opened < HEAD_TIMEOUT + SLACK:
            healthy(port)  # the server answers others while this one dribbles
            try:
                sock.sendall(b"X")  # one byte of a header at a time, never its end
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
        closed_after = time.monotonic() - opened
    assert HEAD_TIMEOUT - 0.1 <= closed_after < HEAD_TIMEOUT + SLACK
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert answer.endswith(f"no whole request head came within {HEAD_TIMEOUT} s\n".encode())


def test_a_later_head_on_a_kept_alive_connection_gets_its_own_whole_timeout(
    server: tuple[int, list[str]],
) -> None:
    """One timer serves a connection's heads: set for the first, it fires while a later head
    (begun 0.6 s on) is arriving, and that head is still given its whole timeout."""
    port, _ = server
    with connect(port) as sock:
        sock.sendall(HEALTH)
        assert whole_answer(sock).startswith(b"HTTP/1.1 200 OK\r\n")
        time.sleep(0.6)
        sock.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        begun = time.monotonic()
        answer = answer_of(sock)
        closed_after = time.monotonic() - begun
    assert HEAD_TIMEOUT - 0.1 <= closed_after < HEAD_TIMEOUT + SLACK
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer


def test_a_first_head_begun_late_is_held_to_the_connections_timeout(
    server: tuple[int, list[str]],
) -> None:
    """The first head's time counts from the connection: one begun 0.9 s in is cut at about
    1 s, not given a second of its own."""
    port, _ = server
    with connect(port) as sock:
        time.sleep(0.9)
        sock.sendall(b"GET /_sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        begun = time.monotonic()
        answer = answer_of(sock)
        closed_after = time.monotonic() - begun
    assert closed_after < HEAD_TIMEOUT - 0.3, closed_after
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer


def test_a_connection_that_sends_nothing_is_closed_within_the_head_timeout(
    server: tuple[int, list[str]],
) -> None:
    port, _ = server
    with connect(port) as sock:
        opened = time.monotonic()
        assert answer_of(sock) == b""  # nothing was asked: nothing is answered
        assert time.monotonic() - opened < HEAD_TIMEOUT + SLACK


def test_connections_past_the_cap_are_answered_503(server: tuple[int, list[str]]) -> None:
    port, _ = server
    # Below the cap, a request is served: two idle connections and the one asking.
    idle = [connect(port) for _ in range(MAX_CONNECTIONS - 1)]
    with connect(port) as sock:
        sock.sendall(HEALTH.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        assert answer_of(sock).startswith(b"HTTP/1.1 200 OK\r\n")
    # At the cap, the next connection's request is refused.
    idle.append(connect(port))
    time.sleep(0.2)  # the server has accepted them all
    with connect(port) as sock:
        sock.sendall(HEALTH)
        answer = answer_of(sock)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer
    assert answer.endswith(b"\r\n\r\nService Unavailable")
    # The idle ones are closed by the head timeout, and the server serves again.
    for sock in idle:
        assert answer_of(sock) == b""
        sock.close()
    healthy(port)
