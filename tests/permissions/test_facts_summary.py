"""A learner's facts row (``learner_facts``, PostgreSQL, migrations 0017-0019): what an
uncached check reads. It holds the facts the tables give, a check uses it only at the learner's
current facts revision, builds it when it is missing or behind, and never answers from one a
change has left behind, however many checks and revocations race on a live server."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from service.auth.keys import parse_prefix
from service.db import make_engine
from service.permissions.cache import LearnerFacts, _held_fields, learner_facts
from service.permissions.coalescing import CoalescingStore
from service.permissions.repository import (
    SUMMARY_COLUMNS,
    FactsRows,
    PermissionStore,
    Snapshot,
    SummaryRow,
    build_summaries,
)
from service.permissions.service import Check, decide_all
from tests.permissions.conftest import (
    FOUNDATIONS,
    Demo,
    as_rows,
    days_ago,
    every_kind_of_fact,
    summary_rows,
)
from tests.permissions.test_past_properties_api import build, histories
from tests.robustness.live import TWO_WORKERS_POOL, LiveServer, cli, complete, served

POSTGRESQL_ONLY = pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
PROGRAM = "post-on-brand-accounts"  # needs Foundations


def normalized(facts: FactsRows) -> tuple[Any, ...]:
    """``facts`` comparable: as :class:`LearnerRows`, lists sorted (the statements give them in
    any order), each value with its type (a score of 95 must come back as 95.0), every moment
    in UTC; an active credential's ``status_changed_at`` left out (a facts row does not keep
    it: nothing reads it, see ``test_an_active_credentials_status_change_is_never_read``)."""
    rows = as_rows(facts)
    for credential in rows.credentials.values():
        moments = [credential.valid_from, credential.valid_until, credential.status_changed_at]
        moments += [credential.superseded_at, *(at for at, _, _ in credential.events)]
        assert all(m is None or m.tzinfo is UTC for m in moments), credential
    typed = [(type(c.score), type(c.passed)) for c in sorted(rows.completions, key=lambda c: c.id)]
    return (
        rows.known,
        rows.revision,
        {
            i: (*c[:5], None if c.status == "active" else c[5], *c[6:8], sorted(c.events))
            for i, c in rows.credentials.items()
        },
        sorted(rows.attributes, key=lambda a: a.id),
        sorted(rows.completions, key=lambda c: c.id),
        typed,
    )


def entry_fields(entry: LearnerFacts) -> tuple[Any, ...]:
    """Everything a facts entry holds, to compare two (the catalog's rules aside)."""
    return tuple(getattr(entry, name) for name in LearnerFacts.__slots__ if name != "rules")


#: A facts row's text set to a learner without any facts: four empty parts.
NO_FACTS = "facts = repeat(chr(29), 3)"


def summary_of(database: Any, learner: str) -> tuple[int, str] | None:
    """The learner's ``learner_facts`` row: its revision and its facts text."""
    with database.engine.connect() as connection:
        row = connection.execute(
            text(
                f"SELECT revision, {', '.join(SUMMARY_COLUMNS)} FROM learner_facts"
                " WHERE learner_id = :learner"
            ),
            {"learner": learner},
        ).one_or_none()
    return (int(row[0]), row[1]) if row is not None else None


def facts_revision(database: Any, learner: str) -> int:
    with database.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT facts_revision FROM learner WHERE id = :learner"),
                {"learner": learner},
            ).scalar_one()
        )


def snapshot(database: Any, demo: Demo, learner: str) -> Snapshot:
    """One uncached check's snapshot, as a serving process reads it."""
    prefix = parse_prefix(demo.checker["Authorization"].split()[1])

    async def read() -> Snapshot:
        store = CoalescingStore(database.engine)
        try:
            return await store.snapshot(prefix, [learner], [learner])
        finally:
            await store.close()

    return asyncio.run(read())


def facts_read(database: Any, *learners: str) -> dict[str, FactsRows]:
    """The facts a check reads after its snapshot (the facts lane), as a serving process reads
    them: for learners whose row the snapshot did not bring."""

    async def read() -> dict[str, FactsRows]:
        store = CoalescingStore(database.engine)
        try:
            return await store.facts(list(learners))
        finally:
            await store.close()

    return asyncio.run(read())


@POSTGRESQL_ONLY
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=histories)
def test_a_learners_facts_row_holds_the_facts_the_tables_give(
    demo: Demo, database: Any, actions: list[tuple[Any, ...]]
) -> None:
    learner = f"s-{uuid.uuid4().hex[:12]}"
    build(demo, learner, actions)  # awards, renewals, suspensions, revocations, attributes
    store = PermissionStore(database.engine)
    try:
        expected = store.facts([learner])[learner]
    finally:
        store.close()

    assert build_summaries(database.engine, batch=3) >= 1  # the bulk builder's row
    kept = summary_of(database, learner)
    assert kept is not None and kept[0] == expected.revision
    assert normalized(summary_rows(*kept)) == normalized(expected)
    # The check's own reading of the row: the entry those rows make, value for value, in order.
    view = demo.client.app.state.permissions.catalog(0)  # type: ignore[attr-defined]
    made = LearnerFacts.from_summary(SummaryRow(*kept), view.level_names, view.compiled.rules)
    plain = LearnerFacts(summary_rows(*kept), view.level_names, view.compiled.rules)
    assert entry_fields(made) == entry_fields(plain)

    assert normalized(snapshot(database, demo, learner).facts[learner]) == normalized(expected)

    with database.engine.begin() as connection:  # and the one a check builds
        connection.execute(text("DELETE FROM learner_facts WHERE learner_id = :l"), {"l": learner})
    read = snapshot(database, demo, learner)
    assert read.revisions == {learner: expected.revision} and read.facts == {}
    assert normalized(facts_read(database, learner)[learner]) == normalized(expected)
    assert summary_of(database, learner) == kept  # the same row, whoever built it


#: Attribute values a facts text must carry through its separators: each separator, JSON's
#: own escapes, and plain text beside them.
AWKWARD_VALUES = {
    "a": "one\x1ftwo",
    "b": "\x1cstarts with the quote mark",
    "c": "parts\x1dand\x1erecords",
    "d": '"quoted" \\ back\\slash \u00e9 \U0001f600',
    "e": "plain",
}


@POSTGRESQL_ONLY
def test_a_facts_row_carries_attribute_values_holding_its_separators(
    demo: Demo, database: Any
) -> None:
    """Attribute values are the facts text's only free text: one holding a separator (or
    empty, or NULL) comes back as the tables hold it, and the other fields stay in place."""
    demo.complete("ana", "policy-101", days_ago(3), score=95, attributes=AWKWARD_VALUES)
    demo.complete("ana", "brand-voice-101", days_ago(2), attributes={"a": None, "e": "later"})
    with database.engine.begin() as connection:  # the API refuses an empty value; a row may not
        connection.execute(
            text(
                "INSERT INTO learner_attribute_change (learner_id, name, value, changed_at)"
                " VALUES ('ana', 'f', '', now())"
            )
        )
    store = PermissionStore(database.engine)
    try:
        expected = store.facts(["ana"])["ana"]
    finally:
        store.close()
    values = {change.value for change in expected.attributes}
    assert {*AWKWARD_VALUES.values(), None, "", "later"} <= values
    built = facts_read(database, "ana")["ana"]  # the row the check builds
    assert isinstance(built, SummaryRow)
    assert normalized(built) == normalized(expected)
    view = demo.client.app.state.permissions.catalog(0)  # type: ignore[attr-defined]
    made = LearnerFacts.from_summary(built, view.level_names, view.compiled.rules)
    plain = LearnerFacts(expected, view.level_names, view.compiled.rules)
    assert entry_fields(made) == entry_fields(plain)


@POSTGRESQL_ONLY
def test_a_facts_row_is_the_same_whatever_the_sessions_settings(demo: Demo, database: Any) -> None:
    """The row's moments are written in UTC and its scores exactly, whatever the time zone and
    ``extra_float_digits`` a new session starts with (the database's or the server's
    configuration): the check's connections and ``credence db build-facts`` write the same."""
    demo.complete("ana", "policy-101", days_ago(3), score=100 / 3)  # 33.333333333333336
    demo.earn("ana", FOUNDATIONS, days_ago(2))
    with database.engine.begin() as connection:
        name = connection.exec_driver_sql("SELECT current_database()").scalar()
    settings = {"TimeZone": "'Pacific/Chatham'", "extra_float_digits": "-3"}
    with database.engine.begin() as connection:
        for setting, value in settings.items():
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET {setting} = {value}')
    elsewhere = create_engine(database.engine.url)  # new sessions, with those defaults
    try:
        with elsewhere.connect() as connection:  # the settings hold
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "Pacific/Chatham"
        assert facts_read(database, "ana")  # built on a check's (new) connection
        kept = summary_of(database, "ana")
        assert kept is not None and "33.333333333333336" in kept[1]
        assert "+00:00" in kept[1] and "+12:45" not in kept[1] and "+13:45" not in kept[1]
        with database.engine.begin() as connection:
            connection.execute(text("DELETE FROM learner_facts"))
        assert build_summaries(elsewhere) >= 1
        assert summary_of(database, "ana") == kept
    finally:
        elsewhere.dispose()
        with database.engine.begin() as connection:
            for setting in settings:
                connection.exec_driver_sql(f'ALTER DATABASE "{name}" RESET {setting}')


@POSTGRESQL_ONLY
def test_a_check_decides_from_a_facts_row_as_from_the_tables(demo: Demo, database: Any) -> None:
    """The check makes its entry straight from a row's text (``LearnerFacts.from_summary``):
    the entry the row's plain reading makes, value for value, and the same decisions as the
    tables' facts, over every kind of fact, for every program kind at moments before, between
    and after the changes."""
    every_kind_of_fact(demo)  # ana's and bob's
    suspended = demo.earn("cy", FOUNDATIONS, days_ago(30))
    demo.status(suspended["id"], "suspend")
    learners = ["ana", "bob", "cy"]
    store = PermissionStore(database.engine)
    try:
        tables = store.facts(learners)
    finally:
        store.close()
    rows = facts_read(database, *learners)  # built by the check's second statement
    view = demo.client.app.state.permissions.catalog(0)  # type: ignore[attr-defined]
    names, rules = view.level_names, view.compiled.rules
    assert all(isinstance(row, SummaryRow) for row in rows.values())
    made = {i: learner_facts(row, names, rules) for i, row in rows.items()}  # from_summary
    for learner, row in rows.items():
        plain = LearnerFacts(as_rows(row), names, rules)
        assert entry_fields(made[learner]) == entry_fields(plain), learner
    assert any(credential[6] for credential in made["ana"]._credentials)  # its suspension
    moments = [days_ago(d) for d in (500, 390, 100, 25, 10, 2.5, 1)] + [days_ago(0)]
    checks = [Check(i, p, at) for i in learners for p in view.compiled.programs for at in moments]
    from_tables = {i: LearnerFacts(r, names, rules) for i, r in tables.items()}
    assert decide_all(view, made, checks) == decide_all(view, from_tables, checks)


@POSTGRESQL_ONLY
def test_a_check_uses_a_facts_row_only_at_the_learners_revision(demo: Demo, database: Any) -> None:
    credential = demo.earn("ana", FOUNDATIONS, days_ago(10))
    assert summary_of(database, "ana") is None
    # The snapshot every check reads writes nothing: no row, so no facts in it.
    first = snapshot(database, demo, "ana")
    revision = facts_revision(database, "ana")
    assert first.revisions == {"ana": revision} and first.facts == {}
    assert summary_of(database, "ana") is None
    # The read that follows it builds the row, labelled with the learner's revision.
    assert facts_read(database, "ana")["ana"].revision == revision
    assert summary_of(database, "ana")[0] == revision  # type: ignore[index]
    assert facts_read(database, "nobody") == {}  # an unknown learner: no facts, no row

    # Read, not built again: a row changed in place (same label) is what the next check sees.
    with database.engine.begin() as connection:
        connection.execute(text(f"UPDATE learner_facts SET {NO_FACTS}"))
    assert as_rows(snapshot(database, demo, "ana").facts["ana"]).credentials == {}

    # A revocation moves the revision: the row is behind, so the snapshot does not use it, and
    # the read that follows builds it again.
    demo.status(credential["id"], "revoke")
    after = snapshot(database, demo, "ana")
    assert after.revisions["ana"] > revision and after.facts == {}
    rebuilt = facts_read(database, "ana")["ana"]
    assert [c.status for c in as_rows(rebuilt).credentials.values()] == ["revoked"]
    assert rebuilt.revision == after.revisions["ana"]
    assert summary_of(database, "ana")[0] == after.revisions["ana"]  # type: ignore[index]

    # A row ahead of what the statements saw (a concurrent check read a later change) is left
    # alone: the learner's facts are read from the tables.
    with database.engine.begin() as connection:
        connection.execute(text(f"UPDATE learner_facts SET revision = revision + 5, {NO_FACTS}"))
    ahead = snapshot(database, demo, "ana")
    assert ahead.revisions == {"ana": after.revisions["ana"]} and ahead.facts == {}
    from_tables = facts_read(database, "ana")["ana"]
    assert [c.status for c in as_rows(from_tables).credentials.values()] == ["revoked"]
    assert from_tables.revision == after.revisions["ana"]
    decision = demo.check("ana", PROGRAM)
    assert decision["allowed"] is False
    assert decision["reasons"][0].startswith("Social Media Foundations was revoked on")
    assert summary_of(database, "ana")[0] == after.revisions["ana"] + 5  # type: ignore[index]


@POSTGRESQL_ONLY
def test_checks_answer_from_the_tables_when_facts_rows_cannot_be_written(
    demo: Demo, database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    demo.earn("ana", FOUNDATIONS, days_ago(10))
    with database.engine.begin() as connection:  # as a full disk or a read-only database would
        connection.execute(
            text(
                "CREATE FUNCTION refuse_facts_rows() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'could not extend file'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_facts_rows BEFORE INSERT ON learner_facts"
                " FOR EACH ROW EXECUTE FUNCTION refuse_facts_rows()"
            )
        )
    try:
        with caplog.at_level("WARNING", logger="credence.permissions"):
            assert demo.check("ana", PROGRAM)["allowed"] is True
            assert demo.check("bo", PROGRAM)["allowed"] is False  # (another, unknown, learner)
        assert summary_of(database, "ana") is None
        assert "could not use the learners' facts rows" in caplog.text
    finally:
        with database.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_facts_rows ON learner_facts"))
            connection.execute(text("DROP FUNCTION refuse_facts_rows()"))


def test_build_facts_fills_every_learners_row(demo: Demo, database: Any, tmp_path: Path) -> None:
    for learner in ("ana", "bo", "cy"):
        demo.earn(learner, FOUNDATIONS, days_ago(10))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")},
        "CREDENCE_DATABASE_URL": database.url,
        "CREDENCE_DEV_KEY_FILE": str(tmp_path / "dev-key"),
    }
    said = cli(env, "db", "build-facts")
    if database.kind == "sqlite":
        assert "Nothing to build" in said
        return
    assert "for 3 learner(s)" in said
    for learner in ("ana", "bo", "cy"):
        kept = summary_of(database, learner)
        assert kept is not None and kept[0] == facts_revision(database, learner)


# ---------------------------------------------------------------------- a live server


@pytest.fixture(scope="module")
def uncached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A served Credence on PostgreSQL with two workers and no facts cache: every check reads
    the learner's facts row (or builds it)."""
    tmp: Path = tmp_path_factory.mktemp("facts-rows")
    env = {"CREDENCE_PERMISSION_CACHE_LEARNERS": "0", **TWO_WORKERS_POOL}
    with served("postgresql", tmp, workers=2, env=env) as live:
        yield live


@pytest.mark.postgres
@pytest.mark.slow
def test_checks_racing_revocations_never_allow_a_revoked_learner(uncached: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {uncached.key}"}
    learners = [f"race-{i}" for i in range(12)]
    credentials: dict[str, str] = {}
    with httpx.Client(base_url=uncached.url, headers=headers, timeout=30) as client:
        for learner in learners:
            complete(client, learner, "policy-101", 90)
            for issued in complete(client, learner, "brand-voice-101")["issued"]:
                credentials[learner] = issued["id"]
    assert sorted(credentials) == sorted(learners)

    revoked_at: dict[str, float] = {}
    answers: list[tuple[float, str, int, bool | None]] = []

    async def run() -> None:
        limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
        async with httpx.AsyncClient(
            base_url=uncached.url, headers=headers, timeout=60, limits=limits
        ) as client:
            done = asyncio.Event()

            async def checker(seed: int) -> None:
                draw = random.Random(seed)
                while not done.is_set():
                    learner = draw.choice(learners)
                    sent = time.monotonic()
                    response = await client.get(
                        "/v1/permissions/check", params={"learner_id": learner, "program": PROGRAM}
                    )
                    allowed = (
                        response.json().get("allowed") if response.status_code == 200 else None
                    )
                    answers.append((sent, learner, response.status_code, allowed))

            async def revoker() -> None:
                await asyncio.sleep(0.3)
                for learner in learners:
                    response = await client.post(
                        f"/v1/credentials/{credentials[learner]}/revoke", json={"reason": "race"}
                    )
                    assert response.status_code == 200, response.text
                    revoked_at[learner] = time.monotonic()
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.3)
                done.set()

            await asyncio.gather(revoker(), *(checker(seed) for seed in range(32)))

    asyncio.run(run())
    assert {status for _, _, status, _ in answers} == {200}
    late = [
        (learner, allowed) for sent, learner, _, allowed in answers if sent > revoked_at[learner]
    ]
    early = [allowed for sent, learner, _, allowed in answers if sent < revoked_at[learner] - 0.05]
    assert late and early and any(early)  # both sides of each revocation were asked about
    assert not [learner for learner, allowed in late if allowed], "allowed after revocation"

    # Every learner's row was built again after its revocation, by the checks.
    engine = make_engine(uncached.env["CREDENCE_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT l.id, s.revision = l.facts_revision FROM learner l"
                    " JOIN learner_facts s ON s.learner_id = l.id WHERE l.id LIKE 'race-%'"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(rows) == [(learner, True) for learner in sorted(learners)]
    assert len(answers) > 200, len(answers)


#: Moments and status events for the property test below.
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
STATUS_EVENTS = st.lists(
    st.tuples(MOMENTS, st.integers(1, 50), st.sampled_from(["active", "suspended", "revoked"])),
    max_size=4,
)


@given(MOMENTS, MOMENTS | st.none(), MOMENTS | st.none(), STATUS_EVENTS)
def test_an_active_credentials_status_change_is_never_read(
    valid_from: datetime, changed: datetime | None, other: datetime | None, events: list[Any]
) -> None:
    """Why a facts row may leave an active credential's ``status_changed_at`` out: what a
    facts entry keeps of a credential (all a check reads of it) is the same whatever that
    moment is, with or without status events. (A revoked or suspended credential's does
    count, when its events do not say when.)"""

    def kept(status: str, status_changed_at: datetime | None) -> tuple[Any, ...]:
        return _held_fields(
            "c", "level", "Level", valid_from, None, status, status_changed_at, None, events
        )

    assert kept("active", changed) == kept("active", other) == kept("active", None)
    if changed is not None and other is not None and changed != other and not events:
        assert kept("revoked", changed) != kept("revoked", other)
