"""Single completions posted at the same moment share a transaction (``service/completions/
combiner.py``), and each request still gets its own answer: a live server on both databases,
and a group whose transaction fails as a whole retried item by item."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from service.completions.combiner import Combiner
from service.completions.schemas import CompletionIn
from tests.completions.conftest import ACTOR, SOURCE, item
from tests.robustness.live import prepare, start

FRESH = 40  # learners with one completion each
EARNERS = 8  # learners whose two courses arrive together and earn Foundations


def _bodies() -> list[tuple[str, dict[str, Any]]]:
    """(what the answer should be, body) for one burst of single completions."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for n in range(FRESH):
        bodies.append(("new", item(f"fresh-{n}", "disclosure-101", external_id=f"fresh-{n}")))
    for n in range(EARNERS):
        bodies.append(("new", item(f"earner-{n}", "policy-101", score=90)))
        bodies.append(("new", item(f"earner-{n}", "brand-voice-101")))
    twice = item("twice", "disclosure-101", external_id="twice")
    bodies += [("new-or-replay", twice), ("new-or-replay", dict(twice))]
    clash = item("clash", "disclosure-101", external_id="clash")
    bodies += [("new-or-conflict", clash), ("new-or-conflict", {**clash, "score": 50})]
    bodies.append(("unknown", item("lost", "no-such-course")))
    return bodies


async def _burst(url: str, key: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
        return await asyncio.gather(*(c.post("/v1/completions", json=b) for b in bodies))


@pytest.mark.slow
def test_a_burst_of_singles_is_recorded_in_shared_transactions_each_answered_alone(
    live_db: str, tmp_path: Path
) -> None:
    env, key = prepare(live_db, tmp_path)
    server = start(env, key, tmp_path)
    try:
        expected = _bodies()
        answers = asyncio.run(_burst(server.url, key, [b for _, b in expected]))
    finally:
        server.stop()
    by_kind: dict[str, list[int]] = {}
    for (kind, _), answer in zip(expected, answers, strict=True):
        by_kind.setdefault(kind, []).append(answer.status_code)
    assert set(by_kind["new"]) == {201}, by_kind["new"]
    assert sorted(by_kind["new-or-replay"]) == [200, 201]
    assert sorted(by_kind["new-or-conflict"]) == [201, 409]
    assert by_kind["unknown"] == [422]
    replayed = [a.json() for (k, _), a in zip(expected, answers, strict=True) if k.endswith("ay")]
    assert replayed[0]["completion"]["id"] == replayed[1]["completion"]["id"]
    issued = Counter(
        answer.json()["completion"]["learner_id"]
        for (_, body), answer in zip(expected, answers, strict=True)
        if answer.status_code == 201 and answer.json()["issued"]
    )
    assert issued == {f"earner-{n}": 1 for n in range(EARNERS)}, "one Foundations per earner"

    from service.db import make_engine

    engine = make_engine(live_db)
    with engine.connect() as connection:
        stored, moments = connection.execute(
            text("SELECT count(*), count(DISTINCT received_at) FROM completion")
        ).one()
        credentials = connection.execute(text("SELECT count(*) FROM credential")).scalar_one()
    engine.dispose()
    assert stored == FRESH + 2 * EARNERS + 2  # "twice" once, "clash" once, "lost" never
    assert credentials == EARNERS
    # one transaction stamps its completions with one moment: fewer moments than completions
    # means requests were recorded together
    assert moments < stored, "no two requests shared a transaction"


def test_a_group_that_fails_as_a_whole_is_retried_item_by_item(issuer, database) -> None:  # type: ignore[no-untyped-def]
    """A real database error in one item's statement (a failing trigger would do the same) sinks
    its group's transaction; each item is then recorded alone, so only its request fails."""
    combiner = Combiner(database.engine, issuer)

    def refuse_poison(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO COMPLETION") and "poison" in str(
            parameters
        ):
            raise OperationalError(statement, parameters, Exception("refused for the test"))

    bodies = [CompletionIn.model_validate(item(f"ok-{n}", "disclosure-101")) for n in range(5)]
    bodies.insert(2, CompletionIn.model_validate(item("poison", "disclosure-101")))
    event.listen(database.engine, "before_cursor_execute", refuse_poison)
    try:

        async def burst() -> list[Any]:
            results: list[Any] = [None] * len(bodies)

            async def one(i: int) -> None:
                try:
                    results[i] = await combiner.record(bodies[i], source=SOURCE, actor=ACTOR)
                except OperationalError as exc:
                    results[i] = exc

            async with anyio.create_task_group() as group:
                for i in range(len(bodies)):
                    group.start_soon(one, i)
            return results

        results = anyio.run(burst)
    finally:
        event.remove(database.engine, "before_cursor_execute", refuse_poison)
    assert isinstance(results[2], OperationalError)
    for i, result in enumerate(results):
        if i != 2:
            assert not isinstance(result, Exception), result
            assert result.recorded is not None and result.recorded.created
    with database.engine.connect() as connection:
        learners = set(connection.execute(text("SELECT learner_id FROM completion")).scalars())
    assert learners == {f"ok-{n}" for n in range(5)}
