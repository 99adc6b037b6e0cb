"""Load :mod:`dataset`'s rows into PostgreSQL with COPY: a million learners in minutes.

The loaded tables' indexes and keys are dropped first and built again afterwards (a sorted
build instead of millions of random inserts), and the loading sessions run with
``session_replication_role = replica``, so neither the foreign keys nor the facts-revision
triggers fire per row (``learner.facts_revision`` is written with the learner). One connection
per table streams its COPY while a single generator feeds them all, so the server parses and
stores on the second core while Python makes rows on the first. Then ``VACUUM (ANALYZE)``, as
autovacuum would have done long since in a deployment of that age, and every learner's
``learner_facts`` row (``credence db build-facts``: about a minute a million learners), as
a deployment has them for every learner checked since its last change.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import dataset  # bench/dataset.py, beside this script
import psycopg
from sqlalchemy.engine import make_url

from service.db import make_engine
from service.permissions.repository import build_summaries

TABLES = tuple(dataset.COLUMNS)
_FLUSH = 2_000  # rows per COPY write


def conninfo(url: str) -> str:
    """A libpq connection string for a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load(url: str, learners: int) -> dict[str, int]:
    """Append ``learners`` learners' rows to the (migrated) database at ``url``; rows per table."""
    info = conninfo(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        start = dataset.start_of(connection)
    engine.dispose()
    with psycopg.connect(info, autocommit=True) as admin:
        rebuild = _drop_keys(admin)
    counts = dict.fromkeys(TABLES, 0)
    people = dataset.Learners(learners)
    with ExitStack() as stack:
        copies: dict[str, Any] = {}
        for table in TABLES:
            connection = stack.enter_context(psycopg.connect(info))
            connection.execute("SET session_replication_role = replica")
            columns = ", ".join(dataset.COLUMNS[table])
            copies[table] = stack.enter_context(
                connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN")
            )
        buffers: dict[str, list[str]] = {table: [] for table in TABLES}
        times: dict[datetime, str] = {}

        def text(value: Any) -> str:
            # COPY's text format; the data set has no tab, newline or backslash to escape.
            if value is None:
                return "\\N"
            if value is True:
                return "t"
            if value is False:
                return "f"
            kind = type(value)
            if kind is datetime:
                shown = times.get(value)
                if shown is None:
                    shown = times[value] = value.isoformat()
                return shown
            if kind is dict or kind is list:
                return json.dumps(value)
            return str(value)

        for table, values in dataset.rows(people, start):
            buffer = buffers[table]
            buffer.append("\t".join(map(text, values)))
            if len(buffer) >= _FLUSH:
                copies[table].write("\n".join(buffer) + "\n")
                counts[table] += len(buffer)
                buffer.clear()
        for table, buffer in buffers.items():
            if buffer:
                copies[table].write("\n".join(buffer) + "\n")
                counts[table] += len(buffer)
    # leaving the stack ended every COPY and committed and closed its connection
    with psycopg.connect(info, autocommit=True) as admin:
        admin.execute("SET maintenance_work_mem = '1GB'")
        for statement in rebuild:
            admin.execute(statement)
        admin.execute(
            "SELECT setval(pg_get_serial_sequence('status_list', 'id'), MAX(id)) FROM status_list"
        )
        admin.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
    # Every learner's facts row, as a deployment has them for the learners checked since their
    # last change (a check builds a missing one: service.permissions.repository).
    engine = make_engine(url)
    try:
        build_summaries(engine)
    finally:
        engine.dispose()
    with psycopg.connect(info, autocommit=True) as admin:
        admin.execute("VACUUM (ANALYZE) learner_facts")
    return counts


def _drop_keys(admin: psycopg.Connection[Any]) -> list[str]:
    """Drop the loaded tables' indexes, keys and the foreign keys into them; the statements that
    make them again, in order (indexes and keys before the foreign keys that need them)."""
    names = list(TABLES)
    constraints = admin.execute(
        """SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
             FROM pg_constraint
            WHERE contype IN ('p', 'u', 'f')
              AND (conrelid = ANY(%s::regclass[]) OR confrelid = ANY(%s::regclass[]))""",
        (names, names),
    ).fetchall()
    indexes = admin.execute(
        """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
             FROM pg_index
            WHERE indrelid = ANY(%s::regclass[])
              AND indexrelid NOT IN (
                  SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))""",
        (names,),
    ).fetchall()
    foreign = [c for c in constraints if c[2] == "f"]
    keys = [c for c in constraints if c[2] != "f" and c[0] in names]
    for table, name, _, _ in foreign + keys:
        admin.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        admin.execute(f"DROP INDEX {name}")
    return (
        [definition for _, definition in indexes]
        + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, _, d in keys]
        + [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, _, d in foreign]
    )


def timed_load(url: str, learners: int) -> tuple[dict[str, int], float]:
    started = time.monotonic()
    counts = load(url, learners)
    return counts, time.monotonic() - started
