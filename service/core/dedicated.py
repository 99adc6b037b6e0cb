"""A process's dedicated database connection for hot read paths (permission checks, verify).

Opened from a pool of its own, made like the engine's (the same connect hooks), and taken out
of it, so it never counts against the engine's pool, nor waits for it: a request that holds
SQLite's writers' lock and then verifies a credential (the public page) would otherwise wait
for a pooled connection that writers queueing for that lock may all hold. Kept in autocommit,
so a read is a single round trip: no checkout, pre-ping, BEGIN or ROLLBACK. Used from the
event loop thread; a lock makes accidental use from another thread safe. Opened on first use,
reopened once after an error, closed when the engine is disposed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class DedicatedConnection:
    """Subclass it and call :meth:`fetch` with the dialect's own parameter style."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._connection: Any = None
        self._lock = threading.Lock()
        self._opener = engine.pool.recreate()  # the engine's creator and connect hooks
        event.listen(engine, "engine_disposed", self._on_dispose)

    def _connect(self) -> Any:
        fairy = self._opener.connect()
        connection: Any = fairy.driver_connection
        fairy.detach()
        if self.dialect == "postgresql":
            connection.autocommit = True
        else:  # the engine's connect hook already made it autocommit (isolation_level=None)
            connection.isolation_level = None
        return connection

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()
        self._opener.dispose()

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                connection.close()

    def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of one statement; a broken connection is replaced and the read retried once."""
        with self._lock:
            for attempt in (1, 2):
                if self._connection is None:
                    self._connection = self._connect()
                try:
                    cursor = self._connection.cursor()
                    try:
                        cursor.execute(sql, tuple(params))
                        return list(cursor.fetchall())
                    finally:
                        cursor.close()
                except Exception:
                    broken, self._connection = self._connection, None
                    with contextlib.suppress(Exception):
                        broken.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover
