"""Learner facts revision: a counter the database bumps whenever a learner's decision facts change.

``learner.facts_revision`` is incremented by triggers (not by application code, so no write path
can forget it) in the same transaction as any insert, update or delete of the learner's
credentials, credential status events, attribute history or completions. Permission checks read
it per request, in the statement that authenticates the caller, and reuse the facts they parsed
for that learner while it stands: a revocation committed by any process changes the counter, so
the very next check anywhere reads the facts again.

SQLite gets row-level triggers; PostgreSQL gets statement-level triggers with transition tables
(one ``UPDATE learner`` per statement, not per row, so bulk inserts stay cheap).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, how a changed row names its learner: a column, or a lookup through the credential)
SOURCES = {
    "credential": ("INSERT", "UPDATE", "DELETE"),
    "credential_status_event": ("INSERT", "UPDATE", "DELETE"),
    "learner_attribute_change": ("INSERT", "UPDATE", "DELETE"),
    "completion": ("INSERT", "UPDATE", "DELETE"),
}
BUMP = "UPDATE learner SET facts_revision = facts_revision + 1 WHERE id IN ({learners})"


def _learner_of(table: str, row: str) -> str:
    """SQL naming the learner of ``row`` (``NEW``/``OLD`` on SQLite, a transition table on PG)."""
    if table == "credential_status_event":
        return f"SELECT learner_id FROM credential WHERE id = {row}.credential_id"
    return f"{row}.learner_id"


def upgrade() -> None:
    op.add_column(
        "learner", sa.Column("facts_revision", sa.BigInteger(), server_default="0", nullable=False)
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _sqlite_triggers() -> None:
    for table, events in SOURCES.items():
        for event in events:
            rows = {"INSERT": ("NEW",), "DELETE": ("OLD",), "UPDATE": ("OLD", "NEW")}[event]
            statements = " ".join(BUMP.format(learners=_select(table, row)) + ";" for row in rows)
            op.execute(
                f"CREATE TRIGGER trg_{table}_{event.lower()}_facts AFTER {event} ON {table} "
                f"FOR EACH ROW BEGIN {statements} END"
            )


def _select(table: str, row: str) -> str:
    learner = _learner_of(table, row)
    return learner if learner.startswith("SELECT") else f"SELECT {learner}"


def _postgresql_triggers() -> None:
    for table, events in SOURCES.items():
        for event in events:
            tables = {
                "INSERT": ("new_rows",),
                "DELETE": ("old_rows",),
                "UPDATE": ("old_rows", "new_rows"),
            }[event]
            if table == "credential_status_event":
                learners = " UNION ".join(
                    f"SELECT c.learner_id FROM {t} JOIN credential c ON c.id = {t}.credential_id"
                    for t in tables
                )
            else:
                learners = " UNION ".join(f"SELECT learner_id FROM {t}" for t in tables)
            function = f"trg_{table}_{event.lower()}_facts"
            op.execute(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {BUMP.format(learners=learners)}; RETURN NULL; END $$"
            )
            referencing = " ".join(
                f"{'OLD' if t == 'old_rows' else 'NEW'} TABLE AS {t}" for t in tables
            )
            op.execute(
                f"CREATE TRIGGER {function} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, events in SOURCES.items():
        for event in events:
            name = f"trg_{table}_{event.lower()}_facts"
            if postgresql:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # Plain ALTER (SQLite >= 3.35): a batch copy of learner would trip the foreign keys to it.
    op.execute("ALTER TABLE learner DROP COLUMN facts_revision")
