"""Benchmark: xAPI statements/s vs the JSON batch API, measured in the same run.

Run: ``.venv/bin/python bench/xapi.py [--rounds N] [--batch 100] [--database-url URL]``

Both paths go through the full app in process (FastAPI TestClient: routing, auth, validation,
one transaction per request, completions, audit chain, issuance) on a freshly migrated database
(a temporary SQLite file unless ``--database-url`` names an empty PostgreSQL database, which it
wipes). Each round posts one batch of ``--batch`` equivalent completions both ways (new learners,
the demo catalog's two xAPI-mapped courses, half of them earning a credential), alternating which
goes first; the best round of each is kept to shrug off noise. It prints statements per second
and the ratio xAPI cost / JSON batch cost. No assertion: the aim (<= 1.3x, issue 19; 1.5x
before) is for a human to read.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from harness import bench_settings, fresh_database  # bench/harness.py, beside this script
from sqlmodel import Session

from service.api_clients.service import create_client
from service.app import create_app
from service.db import make_engine

DEMO = Path(__file__).resolve().parents[1] / "service" / "catalog" / "demo"
ACTIVITIES = {
    "policy-101": "https://lms.example.com/xapi/activities/policy-101",
    "brand-voice-101": "https://lms.example.com/xapi/activities/brand-voice-101",
}
PASSED = "http://adlnet.gov/expapi/verbs/passed"


def plan(tag: str, size: int) -> list[tuple[str, str, float]]:
    """(learner, course, scaled score): pairs of courses per learner, so half earn a level."""
    out = []
    for i in range(size):
        learner = f"{tag}-{i // 2}"
        course = "policy-101" if i % 2 == 0 else "brand-voice-101"
        out.append((learner, course, 0.9))
    return out


def xapi_batch(items: list[tuple[str, str, float]]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "actor": {
                "objectType": "Agent",
                "name": f"Learner {learner}",
                "account": {"homePage": "https://lms.example.com", "name": learner},
            },
            "verb": {"id": PASSED, "display": {"en-US": "passed"}},
            "object": {"objectType": "Activity", "id": ACTIVITIES[course]},
            "result": {"success": True, "score": {"scaled": scaled}},
            "context": {"registration": str(uuid.uuid4())},
            "timestamp": "2026-11-20T10:00:00Z",
        }
        for learner, course, scaled in items
    ]


def json_batch(items: list[tuple[str, str, float]]) -> dict[str, Any]:
    return {
        "items": [
            {
                "learner_id": learner,
                "course_id": course,
                "completed_at": "2026-11-20T10:00:00Z",
                "score": scaled * 100,
                "passed": True,
                "external_id": str(uuid.uuid4()),
                "learner": {"name": f"Learner {learner}"},
            }
            for learner, course, scaled in items
        ]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        fresh_database(url)
        engine = make_engine(url)
        settings = bench_settings(url, f"{tmp}/dev-key")
        with Session(engine) as session:
            _, key = create_client(session, name="bench", scopes=["admin"], actor="bench")
            session.commit()
        app = create_app(settings, engine=engine)
        logging.getLogger("credence").setLevel(logging.WARNING)
        auth = {"Authorization": f"Bearer {key}"}
        xapi_headers = {**auth, "X-Experience-API-Version": "1.0.3"}
        with TestClient(app) as client:
            applied = client.put(
                "/v1/catalog",
                content=(DEMO / "social-media-program.yaml").read_bytes(),
                headers={**auth, "Content-Type": "application/yaml"},
            )
            assert applied.status_code == 200, applied.text
            best = {"xapi": float("inf"), "json": float("inf")}
            for round_no in range(args.rounds + 1):  # round 0 warms up
                order = ["xapi", "json"] if round_no % 2 == 0 else ["json", "xapi"]
                for kind in order:
                    items = plan(f"{kind}{round_no}", args.batch)
                    if kind == "xapi":
                        body: Any = xapi_batch(items)
                        started = time.perf_counter()
                        response = client.post("/xapi/statements", json=body, headers=xapi_headers)
                    else:
                        body = json_batch(items)
                        started = time.perf_counter()
                        response = client.post("/v1/completions/batch", json=body, headers=auth)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, response.text
                    if round_no:
                        best[kind] = min(best[kind], elapsed)
            issued = client.get("/v1/credentials?limit=1", headers=auth).json()["items"]
            assert issued, "no credential was issued: the benchmark did not exercise issuance"
        engine.dispose()

    kind_db = "sqlite" if url.startswith("sqlite") else "postgresql"
    print(f"database: {kind_db}; batches of {args.batch}; best of {args.rounds} rounds")
    for kind, label in (("xapi", "POST /xapi/statements"), ("json", "POST /v1/completions/batch")):
        rate = args.batch / best[kind]
        print(f"  {label:28s} {rate:8.1f} statements/s  ({best[kind] * 1000:7.1f} ms/batch)")
    print(f"  xAPI cost / JSON batch cost: {best['xapi'] / best['json']:.2f}x (aim: <= 1.3x)")


if __name__ == "__main__":
    main()
