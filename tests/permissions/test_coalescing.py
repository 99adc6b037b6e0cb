"""PostgreSQL's coalesced permission reads: many concurrent checks, few statements, same answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from service.auth.keys import parse_prefix
from service.permissions.coalescing import CoalescingStore
from service.permissions.repository import PermissionStore, Snapshot, build_summaries
from tests.permissions.conftest import (
    FOUNDATIONS,
    Demo,
    as_rows,
    days_ago,
    every_kind_of_fact,
    in_order,
)

POSTGRESQL_ONLY = pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@POSTGRESQL_ONLY
def test_concurrent_snapshots_share_statements_and_match_one_read_each(
    demo: Demo, database, make_key
) -> None:  # type: ignore[no-untyped-def]
    for learner in ("ana", "bob", "cy"):
        demo.earn(learner, FOUNDATIONS, days_ago(10))
    other_key = make_key("permissions:check", name="other")
    prefixes = [
        parse_prefix(demo.checker["Authorization"].split()[1]),
        parse_prefix(other_key),
        "0123456789",
    ]
    # Some checks also ask for the facts of learners they have never seen (read in the same
    # statement, from the learners' facts rows: built here as a first check would), each its own.
    build_summaries(database.engine)
    learners = [["ana"], ["bob", "cy"], ["nobody"], ["ana", "nobody"], ["cy"]]
    asks = [(prefixes[i % 3], learners[i % 5], learners[i % 5][: i % 3]) for i in range(70)]
    sync = PermissionStore(database.engine)
    expected = [sync.snapshot(*ask) for ask in asks]
    sync.close()

    store = CoalescingStore(database.engine)
    statements = 0
    fetch = store._snapshots.fetch

    async def counted(sql: str, params: Any) -> list[Any]:
        nonlocal statements
        statements += 1
        return await fetch(sql, params)

    store._snapshots.fetch = counted  # type: ignore[method-assign]

    async def ask_all() -> list[Any]:
        try:
            return await asyncio.gather(*(store.snapshot(*ask) for ask in asks))
        finally:
            await store.close()

    got = asyncio.run(ask_all())
    assert [in_order(s) for s in got] == [in_order(s) for s in expected]
    assert any(snapshot.facts for snapshot in got)
    assert {snapshot.client.name for snapshot in got if snapshot.client} == {"publisher", "other"}
    assert statements < len(asks) / 4  # the first read alone, then everyone else together


@POSTGRESQL_ONLY
def test_the_binary_reads_give_every_kind_of_fact_as_the_text_reads_do(
    demo: Demo, database
) -> None:  # type: ignore[no-untyped-def]
    """The coalesced reads take PostgreSQL's binary results: every value and its type must be
    what the text results give the one-at-a-time store (status events, attribute changes and
    removals, scores, failed and unscored completions, supersessions)."""
    every_kind_of_fact(demo)  # ana's and bob's
    prefix = parse_prefix(demo.checker["Authorization"].split()[1])
    learners = ["ana", "bob", "nobody"]
    sync = PermissionStore(database.engine)
    expected = (sync.snapshot(prefix, learners, learners), sync.facts(learners))
    sync.close()

    async def read() -> tuple[Any, ...]:
        store = CoalescingStore(database.engine)
        try:
            first = await store.snapshot(prefix, learners, learners)  # no facts rows yet
            built = await store.facts(learners)  # read as their rows are built
            again = await store.snapshot(prefix, learners, learners)  # from the rows
            with database.engine.begin() as connection:  # rows labelled later: the tables
                connection.execute(text("UPDATE learner_facts SET revision = revision + 1"))
            return first, built, again, await store.facts(learners)
        finally:
            await store.close()

    first, built, again, facts = asyncio.run(read())
    assert in_order(first) == Snapshot(
        expected[0].client, expected[0].catalog_revision, expected[0].revisions, {}
    )
    assert in_order(again) == in_order(expected[0])
    assert facts == expected[1]
    assert in_order(Snapshot(None, 0, {}, built)) == in_order(Snapshot(None, 0, {}, expected[1]))
    for read_facts in (facts, built):  # from the tables, from the rows
        assert _typed(read_facts) == _typed(expected[1])
        # Taken as they come (no conversion): UTC, as the session's time zone on those
        # connections, not the server's zone (here Etc/UTC, which psycopg gives as a ZoneInfo).
        moments = [
            value
            for rows in map(as_rows, read_facts.values())
            for value in (
                *[v for row in rows.credentials.values() for v in row[:-1]],
                *[v for row in rows.credentials.values() for event in row.events for v in event],
                *[v for row in (*rows.attributes, *rows.completions) for v in row],
            )
            if isinstance(value, datetime)
        ]
        assert len(moments) > 10 and all(moment.tzinfo is UTC for moment in moments)
    ana = as_rows(facts["ana"])
    assert any(c.events for c in ana.credentials.values())  # suspended, then reinstated
    assert any(c.superseded_by for c in ana.credentials.values())
    assert {c.score for c in ana.completions} >= {12.5, None}
    assert any(c.status == "revoked" for c in facts["bob"].credentials.values())


def _typed(facts: dict[str, Any]) -> list[str]:
    """The type of every value of ``facts``, in one order whatever the statement's."""
    return _types(
        value
        for _, rows in sorted(in_order(Snapshot(None, 0, {}, facts)).facts.items())
        for group in (sorted(rows.credentials.values()), rows.attributes, rows.completions)
        for row in group
        for value in row
    )


def _types(values: Any) -> list[str]:
    return [type(value).__name__ for value in values]


@POSTGRESQL_ONLY
def test_a_check_never_uses_a_read_that_started_before_it(demo: Demo, database) -> None:  # type: ignore[no-untyped-def]
    """A change committed while a read is in flight is seen by the checks that arrive after it."""
    _set_revision(database.engine, 7)
    store = CoalescingStore(database.engine)
    fetch = store._snapshots.fetch
    executed, release = asyncio.Event(), asyncio.Event()

    async def held_back(sql: str, params: Any) -> list[Any]:
        rows = await fetch(sql, params)
        if not release.is_set():  # the first read: done in the database, not yet delivered
            executed.set()
            await release.wait()
        return rows

    async def scenario() -> tuple[int, int]:
        store._snapshots.fetch = held_back  # type: ignore[method-assign]
        try:
            first = asyncio.ensure_future(store.snapshot("cred_nothere", []))
            await executed.wait()
            await asyncio.to_thread(_set_revision, database.engine, 8)  # committed meanwhile
            second = asyncio.ensure_future(store.snapshot("cred_nothere", []))
            await asyncio.sleep(0.01)
            release.set()
            return (await first).catalog_revision, (await second).catalog_revision
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (7, 8)


def _set_revision(engine: Any, revision: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE catalog_state SET revision = :r WHERE id = 1"), {"r": revision}
        )
