"""``credence serve --workers N`` (``service/serving.py``): each worker listens on its own socket,
so a client's pool of connections opened at once spreads over the workers; a taken port fails
at once; a dead worker is replaced; no worker outlives its supervisor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.robustness.live import LiveServer, free_port, prepare, start

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the processes' sockets from /proc (Linux)"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    env, key = prepare(f"sqlite:///{tmp_path / 'credence.db'}", tmp_path)
    live = start(env, key, tmp_path, workers=2)
    try:
        yield live
    finally:
        live.stop()


def workers_of(supervisor: int) -> set[int]:
    """The worker processes (multiprocessing's spawned children, not its resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == supervisor and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def holders(port: int, pids: set[int]) -> dict[int, int]:
    """For each of ``pids``: how many established connections to ``port`` it holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # ESTABLISHED, the server's end
            inodes.add(fields[9])
    held = {}
    for pid in pids:
        count = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                count += 1
        held[pid] = count
    return held


def wait_for(condition: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_connections_opened_at_once_spread_over_the_workers(server: LiveServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    workers = workers_of(server.process.pid)
    assert len(workers) == 2, workers
    for _ in range(3):
        # a pool opened at once, as wrk or an LMS opens its keep-alive connections: all 32 are
        # queued before a worker wakes (with one shared socket, the first awake may take all)
        pool = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
        try:
            for connection in pool:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            for connection in pool:
                assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            held = holders(port, workers)
            assert sum(held.values()) == 32, held
            # by the kernel's hash of each connection: all 32 on one worker has odds of 2**-31
            assert all(count > 0 for count in held.values()), held
        finally:
            for connection in pool:
                connection.close()
        wait_for(lambda: sum(holders(port, workers).values()) == 0)


def test_a_killed_worker_is_replaced_and_the_address_keeps_answering(server: LiveServer) -> None:
    before = workers_of(server.process.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(workers_of(server.process.pid) - {victim}) == 2)
    wait_for(lambda: server.log.read_text().count("All 2 workers") >= 1)
    for _ in range(20):  # new connections, hashed over both sockets: all answered
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
    assert f"Worker {victim} died" in server.log.read_text()


def test_workers_stop_with_their_supervisor(server: LiveServer) -> None:
    workers = workers_of(server.process.pid)
    server.stop()  # SIGTERM to the supervisor
    assert server.process.returncode == 0, server.log.read_text()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_workers_stop_when_their_supervisor_is_killed(server: LiveServer) -> None:
    workers = workers_of(server.process.pid)
    server.process.kill()
    server.process.wait(timeout=10)
    wait_for(lambda: all(not Path(f"/proc/{pid}").exists() for pid in workers), seconds=20)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # the address is free again
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_a_taken_port_fails_at_once_with_the_reason(tmp_path: Path) -> None:
    env, _ = prepare(f"sqlite:///{tmp_path / 'credence.db'}", tmp_path)
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Address already in use" in done.stderr
