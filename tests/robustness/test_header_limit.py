"""``credence serve`` caps the request head: an oversized header or request line gets a 431
problem (or the connection is closed on a client still sending), never a 200, and the server
stays up. Real server processes, raw sockets (HTTP clients refuse to send such requests)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.robustness.live import LiveServer, prepare, start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("head-limit")
    env, key = prepare(f"sqlite:///{tmp / 'credence.db'}", tmp)
    live = start(env, key, tmp)
    yield live
    live.stop()


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def exchange(port: int, head: bytes, *, chunk: int = 1 << 16) -> tuple[bytes, bool]:
    """Send ``head`` (in chunks) and read until the server closes or answers.

    Returns (what the server answered, whether it stopped reading before everything was sent).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        cut_off = False
        try:
            for start_at in range(0, len(head), chunk):
                sock.sendall(head[start_at : start_at + chunk])
        except (BrokenPipeError, ConnectionResetError):
            cut_off = True
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
                if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
                    break  # a kept-alive answer: enough read
        except ConnectionResetError:
            cut_off = True
        return received, cut_off


def request(path: str = "/healthz", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refused(answer: bytes, cut_off: bool) -> None:
    if not answer and cut_off:
        return  # closed on a client still sending: refused, not accepted
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large", answer[:200]
    head, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 431
    assert problem["type"].endswith("/request-header-too-large")


def assert_served(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_a_head_within_the_cap_is_served(server: LiveServer) -> None:
    answer, cut_off = exchange(_port(server), request(headers={"X-Big": "a" * 15_000}))
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
    assert not cut_off


@pytest.mark.parametrize(
    "head",
    [
        request(headers={"X-Big": "a" * 17_000}),
        request(headers={f"X-Many-{i}": "b" * 100 for i in range(200)}),
        request(path="/healthz?" + "q" * 17_000),
    ],
    ids=["one-large-header", "many-headers", "long-request-line"],
)
def test_an_oversized_head_gets_a_431(server: LiveServer, head: bytes) -> None:
    answer, cut_off = exchange(_port(server), head)
    assert_refused(answer, cut_off)
    assert_served(server)


def test_an_endless_header_is_cut_off(server: LiveServer) -> None:
    """20 MB of one header field, never finished: refused long before the end."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: " + b"e" * 20_000_000
    answer, cut_off = exchange(_port(server), head)
    assert_refused(answer, cut_off)
    assert_served(server)


def test_the_cap_is_a_setting_and_reaches_every_worker(tmp_path: Path) -> None:
    env, key = prepare(f"sqlite:///{tmp_path / 'credence.db'}", tmp_path)
    live = start({**env, "CREDENCE_MAX_HEADER_BYTES": "4096"}, key, tmp_path, workers=2)
    try:
        port = _port(live)
        for _ in range(6):  # new connections, spread over both worker processes
            answer, cut_off = exchange(port, request(headers={"X-Big": "c" * 5000}))
            assert_refused(answer, cut_off)
            answer, _ = exchange(port, request(headers={"X-Big": "c" * 3000}))
            assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
    finally:
        live.stop()
