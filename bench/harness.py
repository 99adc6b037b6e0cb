"""What the HTTP benchmarks share: a fresh database, a served Credence, and wrk's figures.

Imported by the scripts beside it (``bench/permissions.py``, ``bench/verify.py``, ...), which run
from the repository root as ``.venv/bin/python bench/<name>.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.db import make_engine  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.serving import ALL_SERVING  # noqa: E402

# A wrk Lua ``done`` hook printing one line that :func:`run_wrk` reads (append to a script).
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f %d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


def fresh_database(url: str) -> None:
    """Migrate ``url`` from nothing (a PostgreSQL database's schema is dropped first, a SQLite
    file removed)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        create_database_if_missing(url)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


def create_database_if_missing(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` (from the server's ``postgres`` database),
    so that a bench runs on a fresh machine without a set-up step."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def bench_keys(url: str) -> tuple[str, str]:
    """Two API keys on the database at ``url``: (admin, permissions:check)."""
    from sqlmodel import Session

    from service.api_clients.service import create_client

    engine = make_engine(url)
    with Session(engine) as session:
        _, admin = create_client(session, name="bench-admin", scopes=["admin"], actor="bench")
        _, checker = create_client(
            session, name="bench-publisher", scopes=["permissions:check"], actor="bench"
        )
        session.commit()
    engine.dispose()
    return admin, checker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    url: str,
    port: int,
    *,
    workers: int,
    dev_key_file: str,
    log: Path,
    floor: bool = False,
    **env: str,
) -> subprocess.Popen[bytes]:
    """``credence serve`` on ``port`` (``env``: extra ``CREDENCE_*`` settings), once ready; with
    ``floor``, the same app plus the floor route (``bench/floor_app.py``)."""
    environment = {
        **os.environ,
        "CREDENCE_DATABASE_URL": url,
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_DEV_KEY_FILE": dev_key_file,
        **env,
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    if floor:
        command = [sys.executable, str(ROOT / "bench" / "floor_app.py"), "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            # and every worker listens: connections spread over all of them (service/serving.py)
            if ready and (workers == 1 or f"All {workers} {ALL_SERVING}" in log.read_text()):
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start; see {log}:\n{log.read_text()[-2000:]}")


def run_wrk(
    script: str, port: int, seconds: int, connections: int, lua: Path
) -> tuple[float, float, float, int]:
    """Run wrk with the Lua ``script`` (``WRK_DONE`` is appended) against the server on
    ``port``; returns (requests/s, p50 ms, p99 ms, errors)."""
    lua.write_text(script + WRK_DONE)
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    output = subprocess.run(
        [*command, "-s", str(lua), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", output)
    if match is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    requests, duration, p50, p99, errors = match.groups()
    return int(requests) / float(duration), float(p50), float(p99), int(errors)


#: Single completions as an LMS posts them: three courses per learner, the second of which
#: issues Social Media Foundations (with policy-101's score).
SINGLE_COURSES = ("policy-101", "brand-voice-101", "disclosure-101")


def post_singles(
    base: str,
    key: str,
    *,
    clients: int,
    seconds: float,
    prefix: str = "s",
    latencies: list[float] | None = None,
) -> int:
    """``POST /v1/completions`` one at a time from ``clients`` threads for ``seconds`` (every
    answer must be 201); how many were posted (each one's seconds appended to ``latencies``)."""
    import threading
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    done = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def work(n: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            i = 0
            while time.monotonic() < stop:
                for course in SINGLE_COURSES:
                    body = {
                        "learner_id": f"{prefix}{n}-{i}",
                        "course_id": course,
                        "completed_at": at,
                        "score": 90,
                    }
                    started = time.monotonic()
                    answer = client.post("/v1/completions", json=body)
                    took = time.monotonic() - started
                    assert answer.status_code == 201, answer.text
                    with lock:
                        done[0] += 1
                        if latencies is not None:
                            latencies.append(took)
                i += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0]
