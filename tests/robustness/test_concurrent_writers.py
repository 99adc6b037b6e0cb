"""Many writers at once against a real server: every one answered, none with a 5xx.

Writers hold the database's write lock (SQLite) or the audit chain's lock (PostgreSQL) until
they commit. With more concurrent writers than the server's thread pool, the holder once could
not get a thread to serialize its response and commit: everyone waited for the 30 s lock and
pool timeouts and most got 500s (60 learner upserts: 40 of them). Sessions are now gated
(``service/db.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.robustness.live import prepare, start

WRITERS = 120


async def _all_at_once(url: str, key: str) -> list[Any]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=WRITERS)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def learner(i: int) -> int:
            body = {"attributes": {"region": "EU", "team": f"t{i % 7}"}}
            response = await client.put(f"/v1/learners/w{i}", json=body, headers=headers)
            return response.status_code

        async def completion(i: int) -> int:
            body = {
                "learner_id": f"c{i}",
                "course_id": "policy-101",
                "completed_at": "2026-10-01T09:00:00Z",
                "score": 95,
            }
            response = await client.post("/v1/completions", json=body, headers=headers)
            return response.status_code

        return await asyncio.gather(
            *(learner(i) for i in range(WRITERS)),
            *(completion(i) for i in range(WRITERS // 2)),
            return_exceptions=True,
        )


@pytest.mark.slow
def test_more_concurrent_writers_than_threads_all_get_answers(live_db: str, tmp_path: Path) -> None:
    env, key = prepare(live_db, tmp_path)
    server = start(env, key, tmp_path)
    try:
        statuses = asyncio.run(_all_at_once(server.url, key))
    finally:
        server.stop()
    failed = [s for s in statuses if isinstance(s, BaseException)]
    assert not failed, (
        f"{len(failed)} requests got no answer ({failed[0]!r}); server log:\n"
        + (server.log.read_text()[-4000:])
    )
    learners, completions = statuses[:WRITERS], statuses[WRITERS:]
    assert sorted(set(learners)) == [201], learners
    assert sorted(set(completions)) == [201], completions
