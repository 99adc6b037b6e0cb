"""Pooled PostgreSQL connections are pinged only after being idle (``service/db.py``): one the
server closed meanwhile is replaced before anyone uses it; one in steady use costs no ping."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from service import db
from service.db import make_engine, read_once
from tests.conftest import NO_POSTGRES, POSTGRES_URL

pytestmark = pytest.mark.postgres


def _killed_while_pooled(monkeypatch: pytest.MonkeyPatch, idle_seconds: float) -> None:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", idle_seconds)
    engine = make_engine(POSTGRES_URL, pool_size=1, max_overflow=0)
    killer = make_engine(POSTGRES_URL)
    try:
        with read_once(engine) as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            connection.commit()
        with read_once(engine) as connection:  # the same pooled connection, now dead
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        killer.dispose()


def test_an_idle_connection_the_server_closed_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    _killed_while_pooled(monkeypatch, idle_seconds=0)


def test_a_connection_in_steady_use_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flip side, and proof the test above depends on the ping: with no ping, the dead
    connection is handed out and the statement fails (the pool then starts afresh)."""
    with pytest.raises(OperationalError):
        _killed_while_pooled(monkeypatch, idle_seconds=3600)
