"""Single-completion throughput as server processes are added: the write path's scaling curve.

Run::

    .venv/bin/python bench/scale_out.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--processes 1 2 4] [--clients 8] [--seconds 10]

For each process count it wipes the database (schema dropped), migrates it, starts ``credence
serve --workers N`` and posts single completions (``POST /v1/completions``, three courses per
learner, every third issues Social Media Foundations) from ``--clients`` threads, then prints
completions/s and the ratio to the one-process figure of the same run. On one machine the
curve ends where its cores do; with writers of different learners no longer serialised it
should grow with processes until then, not stay flat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.db import make_engine  # noqa: E402
from tests.robustness.live import prepare, start  # noqa: E402

COURSES = ("policy-101", "brand-voice-101", "disclosure-101")


def _wipe(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def measure(url: str, processes: int, clients: int, seconds: float) -> float:
    _wipe(url)
    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    done = [0]
    with tempfile.TemporaryDirectory() as folder:
        env, key = prepare(url, Path(folder))
        server = start(env, key, Path(folder), workers=processes)
        try:

            def work(n: int) -> None:
                headers = {"Authorization": f"Bearer {key}"}
                with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                    stop, i = time.monotonic() + seconds, 0
                    while time.monotonic() < stop:
                        for course in COURSES:
                            body = {
                                "learner_id": f"s{n}-{i}",
                                "course_id": course,
                                "completed_at": at,
                                "score": 90,
                            }
                            assert client.post("/v1/completions", json=body).status_code == 201
                            done[0] += 1
                        i += 1

            threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return done[0] / (time.monotonic() - started)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True, help="PostgreSQL (wiped)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    first = None
    for count in args.processes:
        rate = measure(args.db_url, count, args.clients, args.seconds)
        first = first or rate
        print(f"{count} process(es): {rate:7.0f} completions/s  = {rate / first:.2f}x one process")


if __name__ == "__main__":
    main()
