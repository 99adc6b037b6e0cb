"""The bulk path's own mechanics: repeats inside one batch, status-list slot allocation. (That it
answers and writes as one request per item does is in ``test_one_path.py``.)"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import event, text
from sqlmodel import Session, select

from service.completions.batch import record_batch
from service.models import StatusList, StatusSlot
from service.status import service as status_lists
from tests.completions.conftest import ACTOR, SOURCE, item


def test_a_replay_inside_one_batch_repeats_the_first_result(database, issuer) -> None:  # type: ignore[no-untyped-def]
    items = [item("zoe", "policy-101", score=90, external_id="z")] * 3 + [
        item("zoe", "brand-voice-101", external_id="y"),
        item("zoe", "brand-voice-101", external_id="y"),
    ]
    with Session(database.engine) as session, session.begin():
        outcomes = record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
        stored = session.execute(text("SELECT count(*) FROM completion")).scalar_one()
    recorded = [o.recorded for o in outcomes]
    assert all(r is not None for r in recorded)
    assert [r.created for r in recorded if r] == [True, False, False, True, False]
    assert recorded[0] and recorded[1] and recorded[0].completion.id == recorded[1].completion.id
    assert recorded[3] and recorded[4] and recorded[4].issued == recorded[3].issued
    assert len(recorded[3].issued) == 1 and stored == 2


def _randbelow(values: list[int]) -> Callable[[int], int]:
    sequence = itertools.chain(values, itertools.count(1000))
    return lambda size: next(sequence) % size


def test_slot_allocation_skips_taken_and_repeated_indexes(database, issuer) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session, session.begin():
        record_batch(
            session,
            issuer,
            [item("a", "policy-101", score=90), item("a", "brand-voice-101")],
            source=SOURCE,
            actor=ACTOR,
        )
        taken = set(session.exec(select(StatusSlot.idx)))
        credential_id = session.execute(text("SELECT id FROM credential")).scalar_one()
        pick = sorted(taken)[0]
        # the first picks collide with a taken index and with each other
        entries = status_lists.allocate_many(
            session,
            issuer.settings,
            [credential_id, credential_id],
            randbelow=_randbelow([pick, pick, 7, 7, 7, 9, pick, 9, 11, 12]),
        )
        indexes = [e.index for es in entries.values() for e in es]
        slots = list(session.exec(select(StatusSlot.list_id, StatusSlot.idx)))
        assert len(slots) == len(set(slots))  # never one index twice in a list
        assert pick not in indexes or list(taken).count(pick) == 1
        session.rollback()


def test_slot_allocation_moves_to_a_new_list_when_one_is_full(database, issuer) -> None:  # type: ignore[no-untyped-def]
    items = [
        item(f"l{n}", c, score=90) for n in range(3) for c in ("policy-101", "brand-voice-101")
    ]
    with Session(database.engine) as session, session.begin():
        first = StatusList(
            purpose="revocation",
            size=status_lists.LIST_SIZE,
            used=status_lists.FILL_LIMIT - 1,
            created_at=datetime.now(UTC),
        )
        session.add(first)
        session.flush()
        record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
        per_list = dict(
            session.execute(
                text(
                    "SELECT list_id, count(*) FROM status_slot"
                    " WHERE purpose = 'revocation' GROUP BY list_id"
                )
            ).all()
        )
        lists = {
            r.id: r.used
            for r in session.exec(select(StatusList).where(StatusList.purpose == "revocation"))
        }
        session.rollback()
    assert per_list[first.id] == 1 and sum(per_list.values()) == 3 and len(per_list) == 2
    assert lists[first.id] == status_lists.FILL_LIMIT
    assert sorted(lists.values()) == [2, status_lists.FILL_LIMIT]


def test_entries_stay_revocation_then_suspension_when_one_purpose_spills(database, issuer) -> None:  # type: ignore[no-untyped-def]
    """Lists of the two purposes fill out of step; a credential whose revocation slot spills
    into a new list in a later pass still lists revocation first."""
    items = [
        item(f"s{n}", c, score=90) for n in range(3) for c in ("policy-101", "brand-voice-101")
    ]
    with Session(database.engine) as session, session.begin():
        record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
        ids = list(session.execute(text("SELECT id FROM credential")).scalars())
        session.execute(
            text("UPDATE status_list SET used = :almost WHERE purpose = 'revocation'"),
            {"almost": status_lists.FILL_LIMIT - 1},
        )
        entries = status_lists.allocate_many(session, issuer.settings, ids)
        session.rollback()
    spilled = {e.status_list_credential for es in entries.values() for e in es}
    assert len(spilled) == 3, "one revocation list filled, a new one opened, one suspension list"
    for es in entries.values():
        assert [e.purpose for e in es] == ["revocation", "suspension"]


def _statements_of(database, issuer, items) -> list[str]:  # type: ignore[no-untyped-def]
    """The SQL statements one batch of ``items`` runs (its transaction included)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        with Session(database.engine) as session, session.begin():
            outcomes = record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    assert all(o.problem is None for o in outcomes)
    return seen


def test_a_batch_runs_the_same_statements_whatever_its_size(database, issuer) -> None:  # type: ignore[no-untyped-def]
    """A group of single completions is a batch: its cost is mostly per statement, so the
    statements must not grow with the items (multi-row writes, one read of every learner's
    completions and credentials together)."""

    def batch(prefix: str, learners: int) -> list[dict[str, object]]:
        items = []
        for n in range(learners):
            items.append(item(f"{prefix}-{n}", "policy-101", score=90, external_id=f"{prefix}{n}a"))
            items.append(item(f"{prefix}-{n}", "brand-voice-101", external_id=f"{prefix}{n}b"))
        return items

    _statements_of(database, issuer, batch("warm", 1))  # first use: status lists, caches
    one = _statements_of(database, issuer, batch("one", 1))  # issues one credential
    many = _statements_of(database, issuer, batch("many", 12))  # issues twelve

    # (a slot index taken twice at random, about once in a thousand runs, is picked again by
    # one more insert: not counted)
    def counted(statements: list[str]) -> int:
        return sum(not s.startswith("INSERT INTO status_slot") for s in statements)

    assert counted(many) == counted(one)
    credential_reads = [s for s in one if "FROM credential" in s and "FROM completion" in s]
    assert len(credential_reads) == 1  # completions and credentials in one statement
    assert len(one) <= (19 if database.kind == "postgresql" else 17)
