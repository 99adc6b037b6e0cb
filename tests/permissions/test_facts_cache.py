"""The per-process facts cache behind permission checks: keyed by a revision the database keeps.

Three things make it safe: every write to a learner's decision facts moves
``learner.facts_revision`` (triggers, so a write path cannot forget), the check reads that
revision per request, and a cached learner's holdings are reused only between the same two
breakpoints in time.
"""

from __future__ import annotations

import dataclasses
import gc
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from service.auth.keys import parse_prefix
from service.catalog.expressions import AllOf, AnyOf, AttributeIn, Expr, LevelRef
from service.core.durations import Duration
from service.issuance.engine import CourseRequirement, LevelRule, Renewal
from service.models import metadata
from service.permissions.cache import (
    ASK_WINDOW,
    MODEL_MIN_CAPACITY,
    MODEL_SAMPLE,
    FactsCache,
    LearnerFacts,
    NotStarted,
    held_credential,
)
from service.permissions.engine import decide, held_levels
from service.permissions.repository import (
    SUMMARY_COLUMNS,
    AttributeChange,
    CompletionRow,
    CredentialRow,
    LearnerRows,
    PermissionStore,
    SummaryRow,
    build_summaries,
)
from service.permissions.service import Check, decide_all
from tests.permissions.as_of import missing_then, rows_as_of
from tests.permissions.conftest import FOUNDATIONS, PRACTITIONER, Demo, days_ago, in_order

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _revision(connection: Any, learner: str) -> int:
    return int(
        connection.execute(
            text("SELECT facts_revision FROM learner WHERE id = :id"), {"id": learner}
        ).scalar_one()
    )


def test_every_change_to_a_learners_facts_moves_the_facts_revision(demo: Demo, database) -> None:  # type: ignore[no-untyped-def]
    """Straight SQL, no service code: the triggers alone keep the revision (courses and levels
    come from the demo catalog)."""
    tables = metadata.tables
    ana = text("learner_id = 'ana'")
    now = datetime.now(UTC)
    learner = {
        "id": "ana",
        "email": None,
        "name": None,
        "did": None,
        "subject_uuid": "00000000-0000-0000-0000-000000000001",
        "attributes": {},
        "revision": 1,
        "created_at": now,
        "updated_at": now,
    }
    credential = {
        "id": "urn:uuid:00000000-0000-0000-0000-0000000000c1",
        "learner_id": "ana",
        "level_id": FOUNDATIONS,
        "level_version": 1,
        "issued_at": now,
        "valid_from": now,
        "valid_until": now + timedelta(days=365),
        "status": "active",
        "status_changed_at": now,
        "status_reason": None,
        "superseded_by": None,
        "superseded_at": None,
        "renewal": False,
        "manual": False,
        "evidence": [],
        "kid": "k",
        "jwt": "x.y.z",
    }
    completion = {
        "id": "00000000-0000-0000-0000-0000000000d1",
        "learner_id": "ana",
        "course_id": "policy-101",
        "completed_at": now,
        "score": 95.0,
        "passed": True,
        "source": "test",
        "external_id": None,
        "request_hash": "0" * 64,
        "received_at": now,
        "issued": [],
    }
    changes = [
        ("a completion is recorded", tables["completion"].insert().values(completion)),
        (
            "a completion is corrected",
            tables["completion"].update().values(score=96.0).where(ana),
        ),
        (
            "an attribute changes",
            tables["learner_attribute_change"]
            .insert()
            .values(learner_id="ana", name="region", value="EU", changed_at=now),
        ),
        ("a credential is issued", tables["credential"].insert().values(credential)),
        (
            "a status event is recorded",
            tables["credential_status_event"]
            .insert()
            .values(
                credential_id=credential["id"],
                status="revoked",
                at=now,
                reason=None,
                actor="test",
            ),
        ),
        (
            "a credential's status changes",
            tables["credential"].update().values(status="revoked").where(ana),
        ),
        (
            "an attribute change is removed",
            tables["learner_attribute_change"].delete().where(ana),
        ),
        (
            "a completion is removed",
            tables["completion"].delete().where(ana),
        ),
    ]
    with database.engine.begin() as connection:
        connection.execute(tables["learner"].insert().values(learner))
        connection.execute(
            tables["learner"].insert().values({**learner, "id": "bob", "subject_uuid": "b"})
        )
    for what, statement in changes:
        with database.engine.begin() as connection:
            before, other = _revision(connection, "ana"), _revision(connection, "bob")
            connection.execute(statement)
        with database.engine.connect() as connection:
            assert _revision(connection, "ana") > before, what
            assert _revision(connection, "bob") == other, f"{what}: another learner moved"


def test_a_change_written_behind_the_services_back_is_seen_by_the_next_check(
    demo: Demo, database
) -> None:  # type: ignore[no-untyped-def]
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    for _ in range(2):  # kept from the second ask on
        assert demo.check("ana", "post-on-brand-accounts")["allowed"] is True
    # No status event, no service call: only the row changes (as an import or a repair would).
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE credential SET status = 'revoked', status_changed_at = :at WHERE id = :id"
            ),
            {"at": datetime.now(UTC) - timedelta(seconds=1), "id": foundations["id"]},
        )
    denied = demo.check("ana", "post-on-brand-accounts")
    assert denied["allowed"] is False
    assert "revoked" in denied["reasons"][0]


def test_a_repeated_check_is_answered_from_the_cached_facts(demo: Demo) -> None:
    demo.earn_up_to("ana", PRACTITIONER, days_ago(30))
    permissions = demo.client.app.state.permissions  # type: ignore[attr-defined]
    revision = permissions.store.snapshot("none", ["ana"]).revisions["ana"]
    first = demo.check("ana", "run-paid-campaigns")
    assert permissions.cache.get("ana", revision) is None  # read once: not kept yet
    demo.check("ana", "run-paid-campaigns")
    entry = permissions.cache.get("ana", revision)
    assert entry is not None
    again = demo.check("ana", "run-paid-campaigns")
    assert permissions.cache.get("ana", revision) is entry  # reused, not read again
    assert {**again, "at": None} == {**first, "at": None}


def test_a_snapshot_with_facts_reads_what_the_snapshot_and_facts_statements_read(
    demo: Demo, database
) -> None:  # type: ignore[no-untyped-def]
    """The first sighting of a learner reads its facts with the snapshot, in one statement:
    the same key, revisions and facts as the two statements read one after the other."""
    held = demo.earn_up_to("ana", PRACTITIONER, days_ago(30))
    demo.status(held[FOUNDATIONS]["id"], "suspend")
    demo.status(held[FOUNDATIONS]["id"], "reinstate")
    demo.status(held[PRACTITIONER]["id"], "revoke")
    demo.earn("bob", FOUNDATIONS, days_ago(5))
    prefix = parse_prefix(demo.checker["Authorization"].split()[1])
    assert prefix is not None
    store = PermissionStore(database.engine)
    try:
        for learners, facts_of in (
            (["ana"], ["ana"]),
            (["ana", "bob", "nobody"], ["bob", "nobody", "ana"]),
            (["bob", "ana"], ["bob"]),
            (["nobody"], ["nobody"]),
        ):
            separate = store.snapshot(prefix, learners)
            separate.facts = store.facts(facts_of)
            assert in_order(store.snapshot(prefix, learners, facts_of)) == in_order(separate)
        ana = store.snapshot(prefix, ["ana"], ["ana"])
        assert ana.client is not None and ana.client.name == "publisher"
        assert {c.status for c in ana.facts["ana"].credentials.values()} == {"active", "revoked"}
        assert sum(len(c.events) for c in ana.facts["ana"].credentials.values()) >= 3
        assert store.snapshot("cred_nothere", ["ana"], ["ana"]).client is None
    finally:
        store.close()


def test_a_learner_not_kept_is_read_in_one_statement_and_a_changed_one_in_two(
    demo: Demo,
) -> None:
    """A learner the cache does not hold has its facts read with the snapshot (one round
    trip; on PostgreSQL from its ``learner_facts`` row, which the learner's first check after a
    change builds with a second statement); a kept learner whose facts changed since needs the
    snapshot to learn it, then its facts (two); a kept learner unchanged, the snapshot alone."""
    held = demo.earn("ana", FOUNDATIONS, days_ago(10))
    permissions = demo.client.app.state.permissions  # type: ignore[attr-defined]
    statements: list[str] = []

    def counted(fetch: Any) -> Any:
        def counting(sql: str, params: Any) -> Any:
            statements.append(sql)
            return fetch(sql, params)

        return counting

    reads = permissions.reads
    postgresql = hasattr(reads, "_snapshots")
    if postgresql:  # the coalescing lanes (awaitables)
        demo.check("nobody", "post-on-brand-accounts")  # makes the lanes on the test's loop
        for lane in (reads._snapshots, reads._facts):
            lane.fetch = counted(lane.fetch)
    else:
        permissions.store.fetch = counted(permissions.store.fetch)

    def statements_of_one_check() -> int:
        statements.clear()
        demo.check("ana", "post-on-brand-accounts")
        return len(statements)

    # Never seen: snapshot and facts together; on PostgreSQL the learner has no facts row yet,
    # so its facts come next, from the statement that builds the row.
    assert statements_of_one_check() == (2 if postgresql else 1)
    assert not permissions.cache.holds("ana")
    # Read once before: kept from now on (on PostgreSQL from its row, with the snapshot).
    assert statements_of_one_check() == 1
    assert permissions.cache.holds("ana")
    assert statements_of_one_check() == 1  # kept and unchanged: the snapshot alone
    demo.status(held["id"], "revoke")
    assert statements_of_one_check() == 2  # kept but changed: the snapshot, then the facts
    assert demo.check("ana", "post-on-brand-accounts")["allowed"] is False


def test_an_uncached_check_leaves_nothing_for_the_garbage_collector(demo: Demo, database) -> None:  # type: ignore[no-untyped-def]
    """Reading, parsing and deciding for a learner the cache does not hold (every check but
    1% at a million learners) makes no reference cycles: what a check drops is freed at once,
    not left for the collector, whose passes over it cost the server 5% of its CPU and
    77-118 ms tails at a million learners (a recursive closure in ``held_levels`` did that).
    On PostgreSQL the same for entries made from the learners' ``learner_facts`` rows."""
    held = demo.earn_up_to("ana", PRACTITIONER, days_ago(30))
    demo.status(held[FOUNDATIONS]["id"], "revoke")  # Practitioner held but not counting
    demo.earn("bob", FOUNDATIONS, days_ago(5))
    prefix = parse_prefix(demo.checker["Authorization"].split()[1])
    assert prefix is not None
    permissions = demo.client.app.state.permissions  # type: ignore[attr-defined]
    store = PermissionStore(database.engine)
    learners = ["ana", "bob", "nobody"]
    moments = [days_ago(40), days_ago(20), days_ago(1), datetime.now(UTC)]
    summaries: dict[str, SummaryRow] = {}
    if database.engine.dialect.name == "postgresql":
        build_summaries(database.engine)
        with database.engine.connect() as connection:
            for learner, revision, facts in connection.exec_driver_sql(
                f"SELECT learner_id, revision, {', '.join(SUMMARY_COLUMNS)} FROM learner_facts"
            ):
                summaries[learner] = SummaryRow(revision, facts)
    try:
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            snapshot = store.snapshot(prefix, learners, learners)
            view = permissions.catalog(snapshot.catalog_revision)
            checks = [
                Check(learner, program, at)
                for learner in learners
                for program in view.compiled.programs
                for at in moments
            ]
            facts = {
                learner: LearnerFacts(rows, view.level_names, view.compiled.rules)
                for learner, rows in snapshot.facts.items()
            }
            answers = decide_all(view, facts, checks)
            from_rows = {
                learner: LearnerFacts.from_summary(row, view.level_names, view.compiled.rules)
                for learner, row in summaries.items()
            }
            if from_rows:
                assert decide_all(view, from_rows, checks) == answers
            del snapshot, facts, from_rows
            gc.collect()
            left = [type(thing).__name__ for thing in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    finally:
        store.close()
    decisions = [answer.decision for answer in answers]
    assert any(d.allowed for d in decisions) and any(d.missing for d in decisions)
    assert any("does not count" in " ".join(d.reasons) for d in decisions)
    assert left == []


def _facts(revision: int = 1) -> LearnerFacts:
    return LearnerFacts(LearnerRows(known=True, revision=revision), {})


def _ask(cache: FactsCache, learner: str, entry: LearnerFacts | None = None) -> bool:
    """What a check does with the cache: ask for the learner's entry and, on a miss, offer the
    facts it read (``entry``, or fresh ones at revision 1). True when it was a hit."""
    entry = entry if entry is not None else _facts()
    if cache.get(learner, entry.revision) is not None:
        return True
    cache.put(learner, entry)
    return False


def test_the_cache_keeps_a_learner_from_the_second_ask_and_changes_at_once() -> None:
    cache = FactsCache(capacity=2)
    cache.for_catalog(1)
    _ask(cache, "a")
    assert not cache.holds("a") and len(cache) == 0
    kept = _facts()
    _ask(cache, "a", kept)
    assert cache.get("a", 1) is kept
    changed = _facts(revision=2)
    _ask(cache, "a", changed)  # a kept learner's newer facts replace the old at once
    assert cache.get("a", 2) is changed and cache.get("a", 1) is None


def test_a_learner_asked_about_once_long_ago_is_not_kept() -> None:
    cache = FactsCache(capacity=2)
    cache.for_catalog(1)
    _ask(cache, "a")
    for n in range(50):  # many others asked about once since: more than two windows of asks
        _ask(cache, f"other-{n}")
    _ask(cache, "a")
    assert not cache.holds("a") and len(cache) == 0


def test_a_full_cache_takes_a_learner_only_if_asked_about_more_than_its_least_recent() -> None:
    cache = FactsCache(capacity=2)
    cache.for_catalog(1)
    for name in "ab":
        for _ in range(2):
            _ask(cache, name)
    assert cache.holds("a") and cache.holds("b")
    assert _ask(cache, "a")  # a hit: "a" asked three times, now the most recently used
    for _ in range(3):  # the third ask outnumbers "b" (the least recently used, asked twice)
        _ask(cache, "c")
    assert cache.holds("c") and not cache.holds("b") and cache.holds("a")
    for _ in range(3):  # as often as "a", now the least recently used: not taken
        _ask(cache, "d")
    assert not cache.holds("d") and cache.holds("a") and cache.holds("c")
    assert len(cache) == 2


def test_the_cache_keeps_at_most_its_capacity() -> None:
    cache = FactsCache(capacity=2)
    cache.for_catalog(1)
    entries = {name: _facts() for name in "abc"}
    for name, entry in entries.items():  # "c" asked about most: it takes "a"'s place
        for _ in range(5 if name == "c" else 4):
            _ask(cache, name, entry)
    assert len(cache) == 2 and not cache.holds("a") and cache.get("c", 1) is entries["c"]
    assert cache.get("c", 2) is None  # another revision is a miss
    cache.for_catalog(2)
    assert len(cache) == 0
    nothing = FactsCache(capacity=0)
    for _ in range(3):
        assert not _ask(nothing, "a", entries["a"])  # keeps nothing, fails nothing
    assert len(nothing) == 0


def _admissions_and_hits(cache: FactsCache, draws: list[str]) -> tuple[int, int]:
    admitted = hits = 0
    for learner in draws:
        held = cache.holds(learner)
        if _ask(cache, learner):
            hits += 1
        elif not held and cache.holds(learner):
            admitted += 1
    return admitted, hits


def test_checks_spread_evenly_over_more_learners_than_it_holds_do_not_churn_the_cache() -> None:
    """Uniform asks over twice its capacity: every stable set answers half of them, so the
    cache should keep one, not take in (and evict) a learner on nearly every miss, as admission
    on the second ask did (0.49 admissions an ask here; each costs more than it saves)."""
    rng = random.Random(7)
    cache = FactsCache(capacity=100)
    cache.for_catalog(1)
    draws = [f"L{rng.randrange(200)}" for _ in range(20_000)]
    admitted, hits = _admissions_and_hits(cache, draws)
    assert 0.45 < hits / len(draws) < 0.55
    assert admitted < 0.1 * len(draws), admitted


def test_learners_asked_about_often_are_kept_among_many_asked_about_rarely() -> None:
    """A few learners in half of the asks, the rest spread over ten times the capacity: the
    frequent ones end up kept and stay (second-ask admission kept evicting them)."""
    rng = random.Random(11)
    cache = FactsCache(capacity=50)
    cache.for_catalog(1)
    frequent = [f"F{n}" for n in range(20)]
    draws = [
        rng.choice(frequent) if rng.random() < 0.5 else f"R{rng.randrange(500)}"
        for _ in range(20_000)
    ]
    _admissions_and_hits(cache, draws)
    assert all(cache.holds(learner) for learner in frequent)
    _, hits = _admissions_and_hits(cache, [rng.choice(frequent) for _ in range(1_000)])
    assert hits == 1_000


def test_a_cache_that_would_answer_few_asks_keeps_nothing_until_it_would_answer_more() -> None:
    """Asks spread uniformly over a hundred times the capacity: its model (one learner in
    MODEL_SAMPLE, in a cache that much smaller) answers about 1% of them, so after the model's
    window the cache lets go of what it held and keeps nothing, not even a learner asked about
    again and again. Once the asks come back to fewer learners than it holds, the model answers
    most of them and the cache keeps learners again."""
    rng = random.Random(5)
    capacity = MODEL_MIN_CAPACITY
    cache = FactsCache(capacity=capacity)
    cache.for_catalog(1)
    entry = _facts()
    model_window = ASK_WINDOW * (capacity // MODEL_SAMPLE) * MODEL_SAMPLE  # asks, about
    for _ in range(3):
        _ask(cache, "often", entry)
    assert cache.holds("often") and cache.keeping
    spread = [f"L{rng.randrange(100 * capacity)}" for _ in range(3 * model_window)]
    _, hits = _admissions_and_hits(cache, spread)
    assert not cache.keeping and len(cache) == 0 and not cache.holds("often")
    assert cache.modelled_hits is not None and cache.modelled_hits < 0.05
    assert hits < 0.02 * len(spread)
    for _ in range(10):
        assert not _ask(cache, "often", entry)
    assert not cache.holds("often") and len(cache) == 0
    few = [f"F{rng.randrange(capacity // 2)}" for _ in range(3 * model_window)]
    _admissions_and_hits(cache, few)
    assert cache.keeping and cache.modelled_hits is not None and cache.modelled_hits > 0.8
    _, hits = _admissions_and_hits(cache, few[:2_000])
    assert hits > 0.95 * 2_000


def test_the_caches_model_answers_about_the_share_the_cache_answers() -> None:
    """Uniform asks over two and four times the capacity (a stable set answers a half and a
    quarter) and skewed asks: the share the model answered in its last window is, within a few
    points, what a cache without a model (which never lets go) answered of the same asks. (The
    capacity is four times the smallest modelled: a model of 64 learners, following some 128
    sampled ones, strays by 15 points now and then.)"""
    rng = random.Random(9)
    capacity = 4 * MODEL_MIN_CAPACITY
    window = ASK_WINDOW * capacity  # the model's window, in asks of all learners (about)
    hot = [f"H{n}" for n in range(capacity // 2)]
    patterns = {
        "uniform, twice": lambda: f"L{rng.randrange(2 * capacity)}",
        "uniform, four times": lambda: f"L{rng.randrange(4 * capacity)}",
        "skewed": lambda: rng.choice(hot) if rng.random() < 0.7 else f"R{rng.randrange(50_000)}",
    }
    entry = _facts()
    for name, draw in patterns.items():
        modelled, unmodelled = FactsCache(capacity), FactsCache(capacity, modelled=False)
        asks = [draw() for _ in range(3 * window)]
        for cache in (modelled, unmodelled):
            cache.for_catalog(1)
        for learner in asks:
            _ask(modelled, learner, entry)
        hits = [_ask(unmodelled, learner, entry) for learner in asks]
        share = sum(hits[window:]) / (2 * window)  # the cache without a model, last two windows
        assert modelled.modelled_hits is not None, name
        assert abs(modelled.modelled_hits - share) < 0.1, (name, modelled.modelled_hits, share)


def test_a_cache_too_small_to_sample_always_keeps() -> None:
    """No model under MODEL_MIN_CAPACITY: the asks that make a modelled cache let go (above)
    leave this one keeping what it took in."""
    rng = random.Random(3)
    cache = FactsCache(capacity=MODEL_MIN_CAPACITY - 1)
    cache.for_catalog(1)
    _admissions_and_hits(cache, [f"L{rng.randrange(10**7)}" for _ in range(100_000)])
    assert cache.keeping and cache.modelled_hits is None and len(cache) > 0


def _fresh(text: str) -> str:
    """``text`` as a new string object, as a database driver gives each row its own."""
    return "".join(list(text))


def _rows_with_fresh_strings() -> LearnerRows:
    credential = CredentialRow(
        "c1", _fresh(FOUNDATIONS), NOW - DAY, None, "active", None, None, None, []
    )
    return LearnerRows(
        known=True,
        revision=1,
        credentials={"c1": credential},
        attributes=[AttributeChange(_fresh("team"), _fresh("emea"), NOW - DAY, 1)],
        completions=[CompletionRow("m1", _fresh("policy"), NOW - DAY, None, True)],
    )


def _strings(entry: LearnerFacts) -> list[str]:
    """The level id, course and attribute name and value ``entry`` hands out."""
    completions, credentials = entry.earning_facts(NOW)
    attributes = entry.standing(NOW, PREREQUISITES, NAMES).attributes
    return [credentials[0].level_id, completions[0].course, *attributes, *attributes.values()]


def test_kept_entries_share_one_copy_of_their_level_ids_courses_and_attributes() -> None:
    """Each learner's rows bring their own copies of strings thousands of learners share; the
    cache keeps one of each (memory), and interns nothing for a learner it does not keep (most
    of those read at a million learners: interning was a sixth of reading one)."""
    cache = FactsCache(capacity=4)
    cache.for_catalog(1)
    kept: list[LearnerFacts] = []
    for learner in ("a", "b"):
        for _ in range(2):  # kept from the second ask
            entry = LearnerFacts(_rows_with_fresh_strings(), NAMES, RULES)
            _ask(cache, learner, entry)
        assert cache.get(learner, 1) is entry
        kept.append(entry)
    not_kept = LearnerFacts(_rows_with_fresh_strings(), NAMES, RULES)
    _ask(cache, "c", not_kept)
    first, second, other = (_strings(e) for e in (*kept, not_kept))
    assert first == second == other == [FOUNDATIONS, "policy", "team", "emea"]
    assert all(x is y for x, y in zip(first, second, strict=True))
    assert not any(x is y for x, y in zip(first, other, strict=True))


# --- the breakpoint memo gives exactly what a fresh evaluation gives ---------------------------

DAY = timedelta(days=1)
moments = st.integers(min_value=0, max_value=40).map(lambda d: NOW + d * DAY)
PREREQUISITES = {PRACTITIONER: (FOUNDATIONS,), FOUNDATIONS: ()}
PROGRAMS: dict[str, Expr] = {
    "post": LevelRef(FOUNDATIONS),
    "campaign": AllOf((LevelRef(PRACTITIONER), AttributeIn("region", ("EU",)))),
    "either": AnyOf((LevelRef(PRACTITIONER), AllOf((LevelRef(FOUNDATIONS),)))),
}
NAMES = {FOUNDATIONS: "Foundations", PRACTITIONER: "Practitioner"}


@st.composite
def credential_rows(draw: st.DrawFn, index: int) -> CredentialRow:
    start = draw(moments)
    until = draw(st.none() | moments.filter(lambda m: m > start))
    events: list[tuple[datetime, int, str]] = []
    for number in range(draw(st.integers(0, 3))):
        events.append((draw(moments), number, draw(st.sampled_from(["suspended", "active"]))))
    if draw(st.booleans()):
        events.append((draw(moments), 9, "revoked"))
    superseded = draw(st.none() | moments)
    return CredentialRow(
        f"c{index}",
        draw(st.sampled_from([FOUNDATIONS, PRACTITIONER])),
        start,
        until,
        "active",
        None,
        "renewed" if superseded else None,
        superseded,
        events,
    )


@st.composite
def learners(draw: st.DrawFn) -> LearnerRows:
    credentials = [draw(credential_rows(i)) for i in range(draw(st.integers(0, 4)))]
    attributes = [
        AttributeChange("region", draw(st.none() | st.sampled_from(["EU", "US"])), draw(moments), i)
        for i in range(draw(st.integers(0, 3)))
    ]
    return LearnerRows(
        known=True, revision=1, credentials={c.id: c for c in credentials}, attributes=attributes
    )


SWEEP = [NOW + hours * timedelta(hours=1) for hours in range(-12, 41 * 24, 6)]


@settings(max_examples=200, deadline=None)
@given(learners(), st.sampled_from([SWEEP, SWEEP[::-1]]))
def test_the_cached_standing_and_decisions_equal_a_fresh_evaluation_at_every_moment(
    rows: LearnerRows, asked: list[datetime]
) -> None:
    """Swept forwards or backwards every 6 hours across all the facts' times, so a moment on
    each side of every breakpoint is asked right after the other."""
    facts = LearnerFacts(rows, NAMES)
    fresh_credentials = [held_credential(row, NAMES) for row in rows.credentials.values()]
    for at in asked:
        standing = facts.standing(at, PREREQUISITES, NAMES)
        fresh = held_levels(fresh_credentials, PREREQUISITES, at, NAMES)
        assert standing.holdings.held == fresh.held, at
        assert standing.holdings.not_held == fresh.not_held, at
        latest: dict[str, AttributeChange] = {}
        for change in rows.attributes:
            known = latest.get(change.name)
            if change.changed_at <= at and (
                known is None or (change.changed_at, change.id) > (known.changed_at, known.id)
            ):
                latest[change.name] = change
        expected = {name: c.value for name, c in latest.items() if c.value is not None}
        assert standing.attributes == expected, at
        for program, expr in PROGRAMS.items():  # asked twice: made, then kept
            fresh_decision = decide(expr, fresh, expected)
            assert standing.decision(program, expr) == fresh_decision, (program, at)
            assert standing.decision(program, expr) == fresh_decision, (program, at)


# --- what a denial lists as missing, kept between breakpoints, equals the earning engine's
# --- over the facts as they stood then

RULES = {
    FOUNDATIONS: LevelRule(
        FOUNDATIONS,
        1,
        "Foundations",
        courses=(CourseRequirement("policy", 80.0), CourseRequirement("brand")),
        valid_for=Duration.parse("P20D"),
        renewal=Renewal(("refresher",), Duration.parse("P10D"), Duration.parse("P5D")),
    ),
    PRACTITIONER: LevelRule(
        PRACTITIONER,
        1,
        "Practitioner",
        courses=(CourseRequirement("advanced"),),
        electives_pick=1,
        electives_from=("brand", "refresher"),
        prerequisites=(FOUNDATIONS,),
        valid_for=Duration.parse("P30D"),
    ),
}
COURSES = ["policy", "brand", "refresher", "advanced"]


@st.composite
def earning_learners(draw: st.DrawFn) -> LearnerRows:
    credentials: list[CredentialRow] = []
    for index in range(draw(st.integers(0, 3))):
        start = draw(moments)
        status = draw(st.sampled_from(["active", "active", "revoked", "suspended"]))
        later = draw(st.none() | st.sampled_from([f"c{i}" for i in range(3) if i != index]))
        credentials.append(
            CredentialRow(
                f"c{index}",
                draw(st.sampled_from([FOUNDATIONS, PRACTITIONER])),
                start,
                draw(st.none() | moments.filter(lambda m, s=start: m > s)),
                status,  # type: ignore[arg-type]
                draw(moments) if status != "active" else None,
                later,
                draw(moments) if later else None,
                [],
            )
        )
    completions = [
        CompletionRow(
            f"m{index}",
            draw(st.sampled_from(COURSES)),
            draw(moments | moments.map(lambda m: m + timedelta(hours=7))),
            draw(st.none() | st.sampled_from([60.0, 85.0])),
            draw(st.booleans()),
        )
        for index in range(draw(st.integers(0, 6)))
    ]
    return LearnerRows(
        known=True,
        revision=1,
        credentials={c.id: c for c in credentials},
        completions=completions,
    )


def _edges(rows: LearnerRows) -> list[datetime]:
    """The sweep plus every fact time shifted by each rule duration, each +/- 1 microsecond."""
    tick = timedelta(microseconds=1)
    shifts = [timedelta(0), timedelta(days=5), -timedelta(days=10)]
    times = [c.completed_at for c in rows.completions]
    for credential in rows.credentials.values():
        times += [credential.valid_from, *(t for t in [credential.valid_until] if t is not None)]
    return sorted(
        {t + shift + edge for t in times for shift in shifts for edge in (-tick, 0 * tick, tick)}
        | set(SWEEP)
    )


@settings(max_examples=300, deadline=None)
@given(earning_learners(), st.booleans())
def test_the_kept_missing_courses_equal_the_earning_engines_at_every_moment(
    rows: LearnerRows, backwards: bool
) -> None:
    """Against the earning engine run fresh over the rows as they stood at each moment (naming
    the prerequisites not held from the permission engine's holdings then, made fresh too).
    A second entry of the same rows asks with the levels never started answered from
    :data:`NOT_STARTED`, which keeps those answers across every example (every learner)."""
    facts = LearnerFacts(rows, NAMES, RULES)
    shared = LearnerFacts(rows, NAMES, RULES)
    asked = _edges(rows)
    for at in asked[::-1] if backwards else asked:
        standing = facts.standing(at, PREREQUISITES, NAMES)
        shared_standing = shared.standing(at, PREREQUISITES, NAMES)
        then = rows_as_of(rows, at)
        credentials = [held_credential(r, NAMES) for r in then.credentials.values()]
        held = held_levels(credentials, PREREQUISITES, at, NAMES).held
        for rule in RULES.values():
            fresh = missing_then(rule, then, at, PREREQUISITES, held)
            assert standing.missing_for(rule, facts, at) == fresh, (rule.level_id, at)
            found = shared_standing.missing_for(rule, shared, at, not_started=NOT_STARTED)
            assert found == fresh, (rule.level_id, at)


#: Kept across the examples above: a level never started is answered alike for every learner.
NOT_STARTED = NotStarted()


def test_a_level_never_started_is_answered_from_its_own_rule_not_one_of_another_revision() -> None:
    """:class:`NotStarted` keeps answers per level and prerequisites not held, for the rule
    object it was asked about: the same level's rule of a later catalog revision (other
    courses) is answered from that rule."""
    not_started = NotStarted()
    learner = LearnerFacts(LearnerRows(known=True, revision=1), NAMES, RULES)
    standing = learner.standing(NOW, PREREQUISITES, NAMES)
    first = standing.missing_for(RULES[PRACTITIONER], learner, NOW, not_started=not_started)
    assert first is not None and [c.course for c in first.courses] == ["advanced"]
    assert first.levels == (FOUNDATIONS,)
    revised = dataclasses.replace(
        RULES[PRACTITIONER], version=2, courses=(CourseRequirement("expert"),)
    )
    later = LearnerFacts(
        LearnerRows(known=True, revision=1), NAMES, {**RULES, PRACTITIONER: revised}
    )
    again = later.standing(NOW, PREREQUISITES, NAMES)
    found = again.missing_for(revised, later, NOW, not_started=not_started)
    assert found is not None and [c.course for c in found.courses] == ["expert"]
    # and the first rule's answer is the first rule's still
    other = LearnerFacts(LearnerRows(known=True, revision=1), NAMES, RULES)
    assert (
        other.standing(NOW, PREREQUISITES, NAMES).missing_for(
            RULES[PRACTITIONER], other, NOW, not_started=not_started
        )
        == first
    )
