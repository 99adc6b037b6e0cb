"""Migration 0008: one live credential per learner and level. A database that already holds the
duplicates an old race left is repaired (newest stays live, the others superseded by it, each
repair an audit event in an intact chain), then the database refuses any new duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from credentials.audit import verify_chain
from service.audit.service import iter_records, record
from service.db import make_engine
from service.migrations import upgrade

LEVEL = "t/l"


def _credential(connection, cid: str, learner: str, valid_from: datetime, **extra) -> None:  # type: ignore[no-untyped-def]
    row = {
        "id": cid,
        "learner_id": learner,
        "level_id": LEVEL,
        "level_version": 1,
        "issued_at": valid_from,
        "valid_from": valid_from,
        "valid_until": None,
        "status": "active",
        "superseded_by": None,
        "renewal": False,
        "manual": True,
        "evidence": "[]",
        "kid": "k",
        "jwt": "j",
    } | extra
    connection.execute(
        text(
            "INSERT INTO credential (id, learner_id, level_id, level_version, issued_at, "
            "valid_from, valid_until, status, superseded_by, renewal, manual, evidence, kid, jwt) "
            "VALUES (:id, :learner_id, :level_id, :level_version, :issued_at, :valid_from, "
            ":valid_until, :status, :superseded_by, :renewal, :manual, :evidence, :kid, :jwt)"
        ),
        row,
    )


def test_duplicates_are_repaired_on_the_record_and_new_ones_refused(live_db: str) -> None:
    upgrade(live_db, "0007")
    engine = make_engine(live_db)
    sqlite = engine.dialect.name == "sqlite"
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def moment(days: int) -> datetime:
        value = start + timedelta(days=days)
        return value.replace(tzinfo=None) if sqlite else value

    with Session(engine) as session:
        record(session, actor="test", action="test.before", subject="x")  # a chain to extend
        connection = session.connection()
        connection.execute(
            text(
                "INSERT INTO track (id, name, created_at, updated_at, revision) "
                "VALUES ('t', 'T', :now, :now, 1)"
            ),
            {"now": moment(0)},
        )
        connection.execute(
            text(
                "INSERT INTO level (id, track_id, local_id, name, rank, version, revision, "
                "created_at, updated_at) VALUES (:id, 't', 'l', 'L', 1, 1, 1, :now, :now)"
            ),
            {"id": LEVEL, "now": moment(0)},
        )
        for learner in ("ann", "bo"):
            connection.execute(
                text(
                    "INSERT INTO learner (id, subject_uuid, attributes, revision, created_at, "
                    "updated_at) VALUES (:id, :id, '{}', 1, :now, :now)"
                ),
                {"id": learner, "now": moment(0)},
            )
        for n in range(3):  # the race: three live duplicates for ann
            _credential(connection, f"urn:uuid:ann-{n}", "ann", moment(n))
        _credential(connection, "urn:uuid:ann-revoked", "ann", moment(9), status="revoked")
        _credential(connection, "urn:uuid:bo-0", "bo", moment(0))
        session.commit()

    upgrade(live_db)

    with engine.connect() as connection:
        rows = dict(
            connection.execute(
                text("SELECT id, superseded_by FROM credential WHERE learner_id = 'ann'")
            ).all()
        )
    assert rows == {
        "urn:uuid:ann-0": "urn:uuid:ann-2",
        "urn:uuid:ann-1": "urn:uuid:ann-2",
        "urn:uuid:ann-2": None,
        "urn:uuid:ann-revoked": None,
    }
    with Session(engine) as session:
        records = list(iter_records(session))
    assert [r.action for r in records] == ["test.before", *["credential.superseded"] * 2]
    assert {r.subject for r in records[1:]} == {
        "credential:urn:uuid:ann-0",
        "credential:urn:uuid:ann-1",
    }
    assert verify_chain(records).ok

    with engine.begin() as connection, pytest.raises(IntegrityError):
        _credential(connection, "urn:uuid:bo-1", "bo", moment(5))
    engine.dispose()
