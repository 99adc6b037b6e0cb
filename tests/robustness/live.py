"""A real Credence server for robustness tests: migrated database, demo catalog, admin key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.serving import ALL_SERVING
from tests.conftest import REPO, fresh_database

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


@dataclass
class LiveServer:
    url: str
    key: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int | None = None) -> None:
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def prepare(database_url: str, tmp: Path) -> tuple[dict[str, str], str]:
    """Migrate, apply the demo catalog, and make an admin key; returns (env, key)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")},
        "CREDENCE_DATABASE_URL": database_url,
        "CREDENCE_DEV_KEY_FILE": str(tmp / "dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    cli(env, "db", "upgrade")
    key = cli(env, "api-keys", "ensure-dev").strip().splitlines()[-1]
    cli(env, "catalog", "apply", str(DEMO))
    return env, key


def start(
    env: dict[str, str], key: str, tmp: Path, *, workers: int = 1, port: int | None = None
) -> LiveServer:
    port = port or free_port()
    log = tmp / f"server-{port}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, process, log, workers=workers)
    return LiveServer(url, key, env, process, log)


def complete(
    client: httpx.Client, learner: str, course: str, score: int | None = None
) -> dict[str, Any]:
    """Post one completion (dated 1 October 2026) through a live server's ``client``; its
    answer (a 201 asserted), with the credentials it issued."""
    body: dict[str, Any] = {
        "learner_id": learner,
        "course_id": course,
        "completed_at": "2026-10-01T09:00:00Z",
    }
    if score is not None:
        body["score"] = score
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


# Two workers x 20 connections: leaves PostgreSQL's 100 for the other test process.
TWO_WORKERS_POOL = {"CREDENCE_DATABASE_POOL_SIZE": "10", "CREDENCE_DATABASE_MAX_OVERFLOW": "10"}


@contextmanager
def served(
    kind: str, tmp: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A fresh database of ``kind`` (:func:`tests.conftest.fresh_database`), prepared
    (:func:`prepare`) and served with ``workers`` and the extra settings ``env``; stopped after."""
    with fresh_database(kind, tmp) as url:
        settings, key = prepare(url, tmp)
        live = start(settings | (env or {}), key, tmp, workers=workers)
        try:
            yield live
        finally:
            live.stop()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, *, workers: int = 1) -> None:
    """Wait until the server ``process`` (output in ``log``) answers ``/readyz`` at ``url`` and,
    with several ``workers``, all of them listen (so connections spread over them)."""
    deadline = time.monotonic() + 120  # a loaded machine may restart a slow-starting worker
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            if ready and (workers == 1 or f"All {workers} {ALL_SERVING}" in log.read_text()):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not become ready: {log.read_text()[-2000:]}")
