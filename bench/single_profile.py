"""Where a single ``POST /v1/completions`` spends its time: the groundwork of the write-path
issue (single completions at LMS speed).

Run::

    .venv/bin/python bench/single_profile.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_prof
        [--clients 4] [--seconds 20]

The database named there is WIPED (schema dropped, re-migrated; a sqlite:/// URL names a file).
It prints, for one completion that issues nothing and one that issues Social Media
Foundations, every SQL statement the request runs (in order: where the audit chain's lock is
taken and what runs under it), the sequential latency of each, the raw database floor of the
same number of statements and a commit measured in the same run, and then, with ``py-spy``
(dev extra) sampling the served process while ``--clients`` threads post single completions,
the frames with the largest inclusive share of samples.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402  (bench/harness.py, beside this script)

from service.api_clients.service import create_client  # noqa: E402
from service.app import create_app  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.settings import Settings  # noqa: E402
from tests.robustness.live import prepare, start  # noqa: E402

DEMO = ROOT / "service" / "catalog" / "demo" / "social-media-program.yaml"
AT = (datetime.now(UTC) - timedelta(days=1)).isoformat()


def statements(url: str) -> list[int]:
    """Each statement of the two kinds of single completion, in-process (TestClient); how many
    each ran."""
    harness.fresh_database(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_client(session, name="profile", scopes=["admin"], actor="bench")
        session.commit()
    seen: list[str] = []
    counts: list[int] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: seen.append(re.sub(r"\s+", " ", statement)[:100]),
    )
    app = create_app(Settings(database_url=url, log_level="WARNING"), engine=engine)
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**headers, "Content-Type": "application/yaml"},
        )
        client.post(  # warm caches (catalog, keys) as a running server has them
            "/v1/completions",
            json={"learner_id": "warm", "course_id": "policy-101", "completed_at": AT, "score": 90},
            headers=headers,
        )
        for label, course in (
            ("issues nothing", "policy-101"),
            ("issues Foundations", "brand-voice-101"),
        ):
            seen.clear()
            body = {"learner_id": "one", "course_id": course, "completed_at": AT, "score": 90}
            answer = client.post("/v1/completions", json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            print(f"\n{label}: {len(seen)} statements")
            counts.append(len(seen))
            for line in seen:
                print("   ", line)
    engine.dispose()
    return counts


def floor(url: str, count: int) -> None:
    """``count`` trivial statements and a commit, sequentially: the database's share."""
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE floor_probe (x int)"))
        started = time.perf_counter()
        for _ in range(100):
            for _ in range(count):
                connection.execute(text("INSERT INTO floor_probe VALUES (1)"))
            connection.commit()
        each = (time.perf_counter() - started) * 10
    engine.dispose()
    print(f"\nfloor: {count} statements + commit = {each:.2f} ms")


def latency(base: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for label, courses in (("issues nothing", 1), ("issues Foundations", 2)):
            times = []
            for i in range(150):
                for j, course in enumerate(("policy-101", "brand-voice-101")[:courses]):
                    body = {
                        "learner_id": f"l{courses}-{i}",
                        "course_id": course,
                        "completed_at": AT,
                        "score": 90,
                    }
                    started = time.perf_counter()
                    assert client.post("/v1/completions", json=body).status_code == 201
                    if j == courses - 1:
                        times.append(time.perf_counter() - started)
            times.sort()
            print(
                f"sequential {label}: p50 {times[75] * 1000:.1f} ms, p90 {times[135] * 1000:.1f} ms"
            )


def sample(base: str, key: str, pid: int, clients: int, seconds: float, out: Path) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("\npy-spy is not installed (pip install -e '.[dev]'): no profile")
        return
    recorder = subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    posted = harness.post_singles(base, key, clients=clients, seconds=seconds - 1)
    recorder.wait()
    print(f"\n{clients} clients: {posted / (seconds - 1):.0f} completions/s while sampled")
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in {re.sub(r":\d+\)$", ")", f) for f in stack.split(";")}:
            inclusive[frame] += int(count)
    print("inclusive share of samples (service/ frames and the database driver's wait):")
    for frame, count in inclusive.most_common(300):
        if "service/" in frame or "Connection.wait" in frame:
            print(f"  {100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    for count in statements(args.db_url):
        floor(args.db_url, count)
    harness.fresh_database(args.db_url)
    with tempfile.TemporaryDirectory() as folder:
        env, key = prepare(args.db_url, Path(folder))
        server = start(env, key, Path(folder))
        try:
            latency(server.url, key)
            sample(
                server.url,
                key,
                server.process.pid,
                args.clients,
                args.seconds,
                Path(folder) / "stacks.txt",
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
