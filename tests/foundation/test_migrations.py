"""The schema is made and unmade only by Alembic, on both databases."""

from __future__ import annotations

from sqlalchemy import inspect

from service.db import make_engine
from service.migrations import current_revision, downgrade, head_revision, upgrade
from service.models import metadata


def test_upgrade_from_empty_then_downgrade_to_base(live_db: str) -> None:
    url = live_db  # an empty database of each kind
    upgrade(url)
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert current_revision(engine) == head_revision()
    engine.dispose()

    downgrade(url, "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
    engine.dispose()


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
