"""The schema is made and unmade only by Alembic, on both databases."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from service.db import make_engine
from service.migrations import current_revision, downgrade, head_revision, upgrade
from service.tables import metadata
from tests.conftest import NO_POSTGRES, POSTGRES_URL


def _fresh_url(kind: str, tmp_path) -> tuple[str, object]:  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}", None
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"credence_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    return url, (admin, name)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_upgrade_from_empty_then_downgrade_to_base(kind: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, cleanup = _fresh_url(kind, tmp_path)
    try:
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
    finally:
        if cleanup is not None:
            admin, name = cleanup
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
