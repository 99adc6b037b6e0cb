"""The writers' locks: a few learners are locked one by one (beside other learners' writers),
many at once exclude everyone (PostgreSQL's lock table is finite), and what a transaction holds
ends with it."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from service.audit.service import MAX_LEARNER_LOCKS, _held, lock_chain, lock_learners


def _advisory(session: Session) -> list[tuple[str, bool]]:
    rows = session.execute(
        text(
            "SELECT mode, objsubid = 2 FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY 1, 2"
        )
    ).all()
    return [(mode, two_keys) for mode, two_keys in rows]


def test_few_learners_are_locked_each_many_exclude_everyone(database) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        lock_learners(session, ["ana", "bo", "ana"])
        assert _held(session) == "learners"
        if database.kind == "postgresql":
            assert _advisory(session) == [
                ("ExclusiveLock", True),  # ana
                ("ExclusiveLock", True),  # bo
                ("ShareLock", False),  # the writers' lock, shared
            ]
        session.commit()
        assert _held(session) is None  # the locks ended with the transaction

        lock_learners(session, [f"l{n}" for n in range(MAX_LEARNER_LOCKS + 1)])
        assert _held(session) == "all"
        if database.kind == "postgresql":  # the writers' and the append lock, exclusively
            assert _advisory(session) == [("ExclusiveLock", False), ("ExclusiveLock", False)]
        lock_learners(session, ["ana"])  # nothing more to take
        if database.kind == "postgresql":
            assert len(_advisory(session)) == 2
        session.rollback()

        lock_chain(session)
        assert _held(session) == "all"
        session.rollback()
        assert _held(session) is None
