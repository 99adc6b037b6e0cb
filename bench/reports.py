"""Benchmark: every report over 100,000 learners and 1,000,000 completions, SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/reports.py [--learners N] [--completions N] [--db KIND]``
(KIND: sqlite, postgresql or both, the default)
(PostgreSQL: ``CREDENCE_BENCH_POSTGRES_URL``, default the ``credence_reports`` database; its
``public`` schema is dropped and migrated afresh).

It migrates an empty database, applies the demo catalog through the service, bulk-loads
learners, attribute history (department, region, role; a tenth of the learners changed role),
completions, credentials (some expired, renewed, revoked) and their status events with
``executemany`` (SQLite) or ``COPY`` (PostgreSQL), then times each report twice:

* in-process: the service function on a read session (best of 3);
* over HTTP: a real uvicorn serving the database, timed with httpx (best of 3).

The floor, measured in the same run, is a bare ``SELECT count(*) FROM completion`` (one full pass
over the completions): a report's cost is also printed as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.api_clients.service import create_client  # noqa: E402
from service.app import create_app  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.issuance.compiled import compile_catalog  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.reports import service  # noqa: E402
from service.reports.repository import report_connection  # noqa: E402
from service.settings import Settings  # noqa: E402

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
PG_URL = os.environ.get(
    "CREDENCE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/credence_reports"
)
COURSES = [
    "policy-101",
    "brand-voice-101",
    "disclosure-101",
    "policy-refresher",
    "community-201",
    "analytics-201",
    "paid-social-201",
    "live-events-201",
    "crisis-301",
    "legal-301",
    "mentoring-301",
]
DEPARTMENTS = ["sales", "support", "marketing", "hr", "legal", "product", "ops", "finance"]
REGIONS = ["EU", "UK", "US", "APAC"]
LEVELS = [
    ("social-media/foundations", 0.6, 365),
    ("social-media/practitioner", 0.2, 730),
    ("social-media/black-belt", 0.05, 730),
]


# --- data ---------------------------------------------------------------------------------------


def stamp(moment: datetime, dialect: str) -> Any:
    """SQLite stores naive UTC text (as service.db.UTCDateTime does); PostgreSQL timestamptz."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else moment


def generate(n_learners: int, n_completions: int, now: datetime, dialect: str) -> dict[str, Any]:
    rnd = random.Random(9)
    day = timedelta(days=1)
    ts = lambda m: stamp(m, dialect)  # noqa: E731
    learners, changes, completions, credentials, events = [], [], [], [], []
    created: list[datetime] = []
    for i in range(n_learners):
        lid = f"L{i:07d}"
        at = now - rnd.uniform(30, 1100) * day
        created.append(at)
        dept, region = rnd.choice(DEPARTMENTS), rnd.choice(REGIONS)
        attrs: dict[str, str] = {"department": dept, "region": region}
        changes += [(lid, "department", dept, ts(at)), (lid, "region", region, ts(at))]
        r = rnd.random()
        if r < 0.3:
            role = "marketing" if r < 0.2 else "community-manager"
            role_at = at + rnd.uniform(0, (now - at).days) * day
            changes.append((lid, "role", role, ts(role_at)))
            attrs["role"] = role
            if rnd.random() < 0.1:  # changed role later
                role = "community-manager" if role == "marketing" else "marketing"
                later = role_at + rnd.uniform(0, max(1, (now - role_at).days)) * day
                changes.append((lid, "role", role, ts(later)))
                attrs["role"] = role
        learners.append(
            (lid, f"Learner {i}", str(i).zfill(36), json.dumps(attrs), 1, ts(at), ts(at))
        )
    for n in range(n_completions):
        i = rnd.randrange(n_learners)
        at = created[i] + rnd.uniform(0, (now - created[i]).days) * day
        completions.append(
            (
                f"c{n:035d}",
                f"L{i:07d}",
                rnd.choice(COURSES),
                ts(at),
                float(rnd.randint(50, 100)),
                rnd.random() < 0.95,
                "bench",
                "0" * 64,
                ts(at),
                "[]",
            )
        )
    event_id = 0
    for i in range(n_learners):
        for level, share, days in LEVELS:
            if rnd.random() >= share:
                continue
            start = created[i] + rnd.uniform(0, (now - created[i]).days) * day
            renewed = rnd.random() < 0.2
            status = "revoked" if rnd.random() < 0.02 else "active"
            cid = f"urn:uuid:{i:08d}-{level[-4:]}-{len(credentials):020d}"
            new_cid = cid[:-1] + "r"
            superseded = (new_cid, ts(start + (days - 10) * day)) if renewed else (None, None)
            until = ts(start + days * day)
            credentials.append(
                (
                    cid,
                    f"L{i:07d}",
                    level,
                    1,
                    ts(start),
                    ts(start),
                    until,
                    status,
                    ts(start),
                    *superseded,
                    False,
                    False,
                    "[]",
                    "bench",
                    "x",
                )
            )
            events.append((event_id := event_id + 1, cid, "active", ts(start), "bench"))
            if status == "revoked":
                events.append((event_id := event_id + 1, cid, "revoked", ts(start), "bench"))
            if renewed:
                again = start + (days - 10) * day
                until = ts(again + days * day)
                credentials.append(
                    (
                        new_cid,
                        f"L{i:07d}",
                        level,
                        1,
                        ts(again),
                        ts(again),
                        until,
                        "active",
                        ts(again),
                        None,
                        None,
                        True,
                        False,
                        "[]",
                        "bench",
                        "x",
                    )
                )
                events.append((event_id := event_id + 1, new_cid, "active", ts(again), "bench"))
    return {
        "learner": (
            "id, name, subject_uuid, attributes, revision, created_at, updated_at",
            learners,
        ),
        "learner_attribute_change": ("learner_id, name, value, changed_at", changes),
        "completion": (
            "id, learner_id, course_id, completed_at, score, passed, source, request_hash, "
            "received_at, issued",
            completions,
        ),
        "credential": (
            "id, learner_id, level_id, level_version, issued_at, valid_from, valid_until, status, "
            "status_changed_at, superseded_by, superseded_at, renewal, manual, evidence, kid, jwt",
            credentials,
        ),
        "credential_status_event": ("id, credential_id, status, at, actor", events),
    }


def load(engine: Engine, data: dict[str, Any]) -> None:
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        for table, (columns, rows) in data.items():
            if engine.dialect.name == "postgresql":
                sql = f"COPY {table} ({columns}) FROM STDIN"
                with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns.split(","))
                cursor = raw.cursor()  # type: ignore[union-attr]
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('credential_status_event', 'id'), "
                    "(SELECT max(id) FROM credential_status_event))"
                )
            )
    # Statistics (and, on PostgreSQL, the visibility map index-only scans need), as autovacuum
    # would leave them after a bulk load.
    command = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(command))


# --- timing -------------------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


REPORTS: list[tuple[str, str, Callable[[Session, Any], Any]]] = [
    (
        "certification (all)",
        "/v1/reports/certification",
        lambda s, c: service.certification(s, c, group_by=None, track=None, at=None),
    ),
    (
        "certification by department",
        "/v1/reports/certification?group_by=department",
        lambda s, c: service.certification(s, c, group_by="department", track=None, at=None),
    ),
    (
        "certification by region, 90 days ago",
        "/v1/reports/certification?group_by=region&at=" + "{at}",
        lambda s, c: service.certification(
            s, c, group_by="region", track=None, at=datetime.now(UTC) - timedelta(days=90)
        ),
    ),
    (
        "completion-rate 12 months (all)",
        "/v1/reports/completion-rate?months=12",
        lambda s, c: service.completion_rate(s, months=12, group_by=None),
    ),
    (
        "completion-rate 12 months by department",
        "/v1/reports/completion-rate?months=12&group_by=department",
        lambda s, c: service.completion_rate(s, months=12, group_by="department"),
    ),
    (
        "compliance by department (+ first 50 overdue)",
        "/v1/reports/compliance?group_by=department",
        lambda s, c: service.compliance(s, c, role=None, group_by="department"),
    ),
    (
        "funnel social-media",
        "/v1/reports/funnel?track=social-media",
        lambda s, c: service.funnel(s, c, track="social-media"),
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(url: str, workdir: Path) -> Iterator[str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": url,
        "CREDENCE_BASE_URL": base,
        "CREDENCE_DEV_KEY_FILE": str(workdir / "dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def run(kind: str, url: str, n_learners: int, n_completions: int, workdir: Path) -> None:
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_client(session, name="bench", scopes=["admin"], actor="bench")
        session.commit()
    settings = Settings(
        database_url=url, log_level="WARNING", dev_key_file=str(workdir / "dev-key")
    )
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, engine=engine)) as client:
        applied = client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**headers, "Content-Type": "application/yaml"},
        )
        assert applied.status_code == 200, applied.text
    now = datetime.now(UTC)
    started = time.perf_counter()
    data = generate(n_learners, n_completions, now, engine.dialect.name)
    generated = time.perf_counter() - started
    load(engine, data)
    loaded = time.perf_counter() - started - generated
    sizes = {t: len(rows) for t, (_, rows) in data.items()}
    del data
    print(f"\n== {kind}: {sizes}")
    print(f"   generated in {generated:.1f}s, loaded in {loaded:.1f}s")

    with engine.connect() as connection:
        floor = best_of(
            lambda: connection.execute(text("SELECT count(*) FROM completion")).scalar()
        )
    print(f"   floor (SELECT count(*) FROM completion): {floor * 1000:.0f} ms\n")
    print(f"   {'report':<48} {'in-process':>11} {'HTTP':>9} {'x floor':>8}")
    at = (now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with (
        serve(url, workdir) as base,
        httpx.Client(base_url=base, headers=headers, timeout=120) as http,
    ):
        for name, path, call in REPORTS:
            with report_connection(engine) as connection, Session(bind=connection) as session:
                catalog = compile_catalog(session, revision=-1)
                local = best_of(lambda: call(session, catalog))  # noqa: B023

                def fetch(path: str = path) -> None:
                    response = http.get(path.replace("{at}", at))
                    assert response.status_code == 200, response.text

                remote = best_of(fetch)
                print(f"   {name:<48} {local:>10.2f}s {remote:>8.2f}s {local / floor:>8.0f}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--completions", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.db in ("sqlite", "both"):
            run(
                "SQLite",
                f"sqlite:///{workdir / 'bench.db'}",
                args.learners,
                args.completions,
                workdir,
            )
        if args.db in ("postgresql", "both"):
            engine = make_engine(PG_URL)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
            run("PostgreSQL", PG_URL, args.learners, args.completions, workdir)


if __name__ == "__main__":
    main()
