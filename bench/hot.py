"""The hot statements, as PostgreSQL ran them: EXPLAIN (ANALYZE, BUFFERS) of every statement one
cold permission check, one verification and one single completion execute, and the cold
check's cost step by step.

The plans come from the server itself: the in-process app's connections load ``auto_explain``
(``PGOPTIONS``: ``session_preload_libraries``, a superuser's setting) with ``client_min_messages
= log``, so each statement's plan with its timings and buffers comes back as a notice on the
connection that ran it, for the statement as the service sends it (prepared and run with a
generic plan once psycopg has prepared it: each request is made seven times first).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import event

from service.app import create_app
from service.auth.service import admit, well_formed
from service.db import make_engine, utcnow
from service.issuance.compiled import CatalogCache
from service.permissions.service import SCOPE, Check, Permissions, decide_all
from service.settings import Settings

PROGRAMS = ["post-on-brand-accounts", "run-paid-campaigns", "host-live-events", "respond-to-crisis"]
_EXPLAIN = (
    "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 "
    "-c auto_explain.log_analyze=on -c auto_explain.log_buffers=on "
    "-c auto_explain.log_nested_statements=on -c client_min_messages=log"
)
REPEAT = 7  # psycopg prepares a statement on its fifth run; PostgreSQL may go generic after five


@contextmanager
def explained() -> Iterator[list[str]]:
    """While open, every new connection to PostgreSQL reports each statement's plan: collected
    in the list yielded (the SQLAlchemy engine's connections by its ``connect`` event, the
    permission check's own asynchronous ones by wrapping their ``connect``)."""
    plans: list[str] = []
    before = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = _EXPLAIN
    connect = psycopg.AsyncConnection.connect

    async def connect_reporting(*args: Any, **kwargs: Any) -> Any:
        connection = await connect(*args, **kwargs)
        connection.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
        return connection

    psycopg.AsyncConnection.connect = connect_reporting  # type: ignore[method-assign]
    try:
        yield plans
    finally:
        psycopg.AsyncConnection.connect = connect  # type: ignore[method-assign]
        if before is None:
            del os.environ["PGOPTIONS"]
        else:
            os.environ["PGOPTIONS"] = before


def capture(
    url: str, settings: dict[str, Any], keys: dict[str, str], learners: int, token: str
) -> dict[str, list[str]]:
    """The plans of one uncached check of a random loaded learner, one verification of
    ``token``, one completion of a loaded learner and one that issues Foundations to a new
    one (``keys``: ``checker`` and ``admin`` API keys)."""
    rng = random.Random(11)
    out: dict[str, list[str]] = {}
    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with explained() as plans:
        engine = make_engine(url)
        event.listen(
            engine,
            "connect",
            lambda dbapi, _record: dbapi.add_notice_handler(
                lambda d: plans.append(d.message_primary or "")
            ),
        )
        app = create_app(
            Settings(database_url=url, permission_cache_learners=0, **settings), engine=engine
        )
        checker = {"Authorization": f"Bearer {keys['checker']}"}
        admin = {"Authorization": f"Bearer {keys['admin']}"}

        def check(client: TestClient) -> None:
            params = {"learner_id": f"L{rng.randrange(learners)}", "program": rng.choice(PROGRAMS)}
            client.get("/v1/permissions/check", params=params, headers=checker).raise_for_status()

        def verify(client: TestClient) -> None:
            answer = client.post(
                "/v1/verify", content=token, headers={"Content-Type": "application/vc+jwt"}
            )
            assert answer.json()["verified"], answer.text

        def complete(learner: str, course: str) -> Callable[[TestClient], None]:
            def post(client: TestClient) -> None:
                body = {"learner_id": learner, "course_id": course, "completed_at": at}
                answer = client.post("/v1/completions", json={**body, "score": 90}, headers=admin)
                assert answer.status_code == 201, answer.text

            return post

        def new_learner(client: TestClient) -> None:
            learner = f"hot-{rng.getrandbits(64):x}"
            complete(learner, "policy-101")(client)
            plans.clear()
            complete(learner, "brand-voice-101")(client)

        def loaded_learner(client: TestClient) -> None:
            plans.clear()
            complete(f"L{rng.randrange(learners)}", "disclosure-101")(client)

        with TestClient(app) as client:
            for name, request in (
                ("one uncached permission check (GET /v1/permissions/check)", check),
                ("one verification (POST /v1/verify)", verify),
                ("a completion of a loaded learner (POST /v1/completions)", loaded_learner),
                ("a completion that issues Foundations to a new learner", new_learner),
            ):
                for _ in range(REPEAT):
                    request(client)
                plans.clear()
                request(client)
                out[name] = [p for p in plans if "plan:" in p]
        engine.dispose()
    return out


def show_plans(captured: dict[str, list[str]]) -> None:
    for name, plans in captured.items():
        print(f"\n   -- {name}: {len(plans)} statements (server-side times)")
        for plan in plans:
            duration = re.search(r"duration: ([\d.]+) ms", plan)
            body = plan.partition("Query Text:")[2].splitlines()
            root = next((i for i, line in enumerate(body) if "(cost=" in line), len(body))
            query = " ".join(" ".join(body[:root]).split())
            shown = f"{duration.group(1) if duration else '?'} ms"
            print(f"   [{shown}] {query[:160]}{'...' if len(query) > 160 else ''}")
            for line in body[root:]:
                print(f"        {line}")


def cold_check_cost(
    url: str, checker_key: str, learners: int, count: int = 300
) -> dict[str, float]:
    """Median milliseconds of each step of an uncached check, made one at a time through the
    service's own reads (PostgreSQL: the coalescing lanes, each with nothing to coalesce)."""
    engine = make_engine(url)
    registry = CollectorRegistry()
    decisions = Counter("bench_decisions", "-", ["program", "outcome"], registry=registry)
    permissions = Permissions(engine, catalog=CatalogCache(), decisions=decisions, cache_learners=0)
    key = well_formed(checker_key)
    rng = random.Random(5)
    steps: dict[str, list[float]] = {
        "snapshot with facts": [],
        "facts parsed": [],
        "decided": [],
    }

    async def run() -> None:
        for n in range(count + 20):
            learner = f"L{rng.randrange(learners)}"
            checks = [Check(learner, rng.choice(PROGRAMS), utcnow())]
            t0 = time.perf_counter()
            # A learner the cache does not hold: its facts come in the snapshot's statement
            # when its learner_facts row is current.
            snapshot = await permissions.reads.snapshot(key.prefix, [learner], [learner])
            t1 = time.perf_counter()
            admit(snapshot.client, key, SCOPE)
            view = permissions.catalog(snapshot.catalog_revision)
            # Parsed from the snapshot's rows (or, a learner without a current row, read and
            # its row built on the facts lane first), as a serving process does.
            facts = await permissions.learners(view, snapshot)
            t2 = time.perf_counter()
            decide_all(view, facts, checks)
            t3 = time.perf_counter()
            if n >= 20:  # after the connections are open and the statements prepared
                for name, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    steps[name].append(took * 1000)
        await permissions.close()

    asyncio.run(run())
    engine.dispose()
    return {name: statistics.median(times) for name, times in steps.items()}
