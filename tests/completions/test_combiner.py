"""Single completions posted at the same moment share a transaction (``service/completions/
combiner.py``), and each request still gets its own answer: a live server on both databases
(each caller's key admitted alone, though a group reads its client row once), and a group whose
transaction fails as a whole retried item by item."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from service.api_clients.service import create_client, revoke_client
from service.auth.service import PresentedKey, well_formed
from service.completions.combiner import Combiner
from service.completions.schemas import CompletionIn
from service.db import make_engine
from tests.completions.conftest import item
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


def _key(engine: Any, scopes: list[str], *, revoked: bool = False) -> str:
    with Session(engine) as session:
        client, key = create_client(session, name="lms", scopes=scopes, actor="test")
        if revoked:
            revoke_client(session, client.prefix, actor="test")
        session.commit()
    return key


@pytest.mark.slow
def test_each_caller_in_a_group_is_admitted_by_its_own_key(live_db: str, tmp_path: Path) -> None:
    """Requests of one client that share a group (and its one read of the client row) are each
    admitted by the key they present: a wrong secret under the right prefix is a 401, a key
    without the scope a 403, a revoked key a 401, and none of them writes anything."""
    env, admin = prepare(live_db, tmp_path)
    engine = make_engine(live_db)
    writer = _key(engine, ["completions:write"])
    reader = _key(engine, ["permissions:check"])
    revoked = _key(engine, ["completions:write"], revoked=True)
    engine.dispose()
    forged = writer[:-4] + ("aaaa" if not writer.endswith("aaaa") else "bbbb")  # same prefix
    assert well_formed(forged).prefix == well_formed(writer).prefix
    callers = [("good", writer)] * 12 + [("forged", forged)] * 4
    callers += [("reader", reader)] * 3 + [("revoked", revoked)] * 3 + [("admin", admin)] * 2
    server = start(env, admin, tmp_path)
    try:

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(callers))
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as c:
                return await asyncio.gather(
                    *(
                        c.post(
                            "/v1/completions",
                            json=item(f"{kind}-{n}", "disclosure-101"),
                            headers={"Authorization": f"Bearer {key}"},
                        )
                        for n, (kind, key) in enumerate(callers)
                    )
                )

        answers = asyncio.run(burst())
        bad_body = httpx.post(  # refused for its key before its body is looked at
            f"{server.url}/v1/completions",
            json={"learner_id": "x"},
            headers={"Authorization": f"Bearer {forged}"},
        )
    finally:
        server.stop()
    expected = {"good": 201, "admin": 201, "forged": 401, "revoked": 401, "reader": 403}
    for (kind, _), answer in zip(callers, answers, strict=True):
        assert answer.status_code == expected[kind], (kind, answer.text)
        if answer.status_code >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json")
    assert bad_body.status_code == 401, bad_body.text
    engine = make_engine(live_db)
    with engine.connect() as connection:
        learners = set(connection.execute(text("SELECT learner_id FROM completion")).scalars())
    engine.dispose()
    assert learners == {f"{k}-{n}" for n, (k, _) in enumerate(callers) if k in ("good", "admin")}


def test_a_group_that_fails_as_a_whole_is_retried_item_by_item(issuer, database) -> None:  # type: ignore[no-untyped-def]
    """A real database error in one item's statement (a failing trigger would do the same) sinks
    its group's transaction; each item is then recorded alone, so only its request fails."""
    combiner = Combiner(database.engine, issuer)
    key: PresentedKey = well_formed(_key(database.engine, ["completions:write"]))

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
                    results[i] = (await combiner.record(bodies[i], key))[1]
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


def test_a_leader_cancelled_while_gathering_its_group_hands_on_the_lead(issuer, database) -> None:  # type: ignore[no-untyped-def]
    """A leader cancelled (its client gone) during the event-loop passes before it takes its
    group records nothing, and the request queued behind it leads and is recorded."""
    combiner = Combiner(database.engine, issuer)
    key = well_formed(_key(database.engine, ["completions:write"]))
    first = CompletionIn.model_validate(item("gone", "disclosure-101"))
    second = CompletionIn.model_validate(item("stays", "disclosure-101"))
    results: dict[str, Any] = {}

    async def scenario() -> None:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                leader = anyio.CancelScope()

                async def lead() -> None:
                    with leader:
                        results["gone"] = await combiner.record(first, key)

                async def follow() -> None:
                    results["stays"] = await combiner.record(second, key)

                group.start_soon(lead)
                await anyio.lowlevel.checkpoint()  # the leader is in its passes
                group.start_soon(follow)
                await anyio.lowlevel.checkpoint()  # the follower waits behind it
                assert combiner._leading and len(combiner._waiting[key.prefix]) == 2
                leader.cancel()

    anyio.run(scenario)
    assert "gone" not in results
    assert results["stays"][1].recorded is not None
    with database.engine.connect() as connection:
        learners = set(connection.execute(text("SELECT learner_id FROM completion")).scalars())
    assert learners == {"stays"}


def test_on_sqlite_requests_that_arrive_while_another_process_writes_join_the_waiting_group(
    issuer, database
) -> None:  # type: ignore[no-untyped-def]
    """On SQLite one writer of any process writes at a time: a group's leader waits for the
    writers' lock before it takes its group, so requests that arrive while another process
    holds it are recorded in the same transaction (one moment), not in a group of their own
    that would wait for that process's next write in turn."""
    if database.kind != "sqlite":
        pytest.skip("PostgreSQL has no writers' lock: a group is taken at once")
    combiner = Combiner(database.engine, issuer)
    key = well_formed(_key(database.engine, ["completions:write"]))
    other = make_engine(database.url)  # another process's writer: its own connection and lock
    writer = Session(other)
    writer.connection()  # the writers' lock and BEGIN IMMEDIATE, held until committed
    bodies = [CompletionIn.model_validate(item(f"l-{n}", "disclosure-101")) for n in range(12)]
    results: list[Any] = []

    async def scenario() -> None:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:

                async def one(body: CompletionIn) -> None:
                    results.append((await combiner.record(body, key))[1])

                for body in bodies[:4]:
                    group.start_soon(one, body)
                await anyio.sleep(0.3)  # the leader's thread now waits for the writers' lock
                assert combiner._leading
                for body in bodies[4:]:
                    group.start_soon(one, body)
                await anyio.sleep(0.1)
                await anyio.to_thread.run_sync(writer.commit)  # the other writer is done

    try:
        anyio.run(scenario)
    finally:
        writer.close()
        other.dispose()
    assert len(results) == len(bodies)
    assert all(result.recorded is not None and result.recorded.created for result in results)
    with database.engine.connect() as connection:
        stored, moments = connection.execute(
            text("SELECT count(*), count(DISTINCT received_at) FROM completion")
        ).one()
    assert (stored, moments) == (len(bodies), 1), (
        "the late requests waited for a group of their own"
    )


def test_a_group_holding_the_writers_lock_needs_no_second_connection(issuer, database) -> None:  # type: ignore[no-untyped-def]
    """The group's client row is read before its transaction takes the writers' lock (on
    SQLite), never while it is held: a thread holding the lock and waiting for a second
    connection from a pool that writers queued for the lock have emptied would stall every
    writer until the pool's timeout. With a pool of one connection, a group still records."""
    engine = make_engine(database.url, pool_size=1, max_overflow=0, pool_timeout=2)
    try:
        combiner = Combiner(engine, issuer)
        key = well_formed(_key(engine, ["completions:write"]))
        body = CompletionIn.model_validate(item("alone", "disclosure-101"))

        async def one() -> Any:
            with anyio.fail_after(30):
                return await combiner.record(body, key)

        _, outcome = anyio.run(one)
        assert outcome.recorded is not None and outcome.recorded.created
    finally:
        engine.dispose()
