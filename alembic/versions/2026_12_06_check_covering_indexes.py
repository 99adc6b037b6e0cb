"""Covering indexes for the permission check's facts: a learner's credentials, completions and
attribute history read from three index ranges instead of a dozen table pages.

An uncached check reads every credential, completion and attribute change of the learner. The
rows were appended over years, so each lies on its own table page: about twenty pages a learner,
which at a million learners are mostly outside PostgreSQL's buffers. The indexes the statement
already uses (same names, same keys) now also carry the columns it reads, so it becomes
index-only scans of one or two leaf pages each:

- credential (learner_id, level_id) INCLUDE (id, valid_from, valid_until, status,
  status_changed_at, superseded_by, superseded_at, issued_at);
- completion (learner_id, course_id) INCLUDE (id, completed_at, passed, score);
- learner_attribute_change (learner_id, name, changed_at) INCLUDE (value, id).

Every query that used them still can (the keys are unchanged); no index is added, so a write
makes as many index entries as before, only wider ones. PostgreSQL only: SQLite has no INCLUDE
(its indexes stay as they are). Rebuilding them locks the tables' writes while it runs (about a
minute for a million learners).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name: (table, key columns, included columns)
INDEXES = {
    "ix_credential_learner_level": (
        "credential",
        ["learner_id", "level_id"],
        [
            "id",
            "valid_from",
            "valid_until",
            "status",
            "status_changed_at",
            "superseded_by",
            "superseded_at",
            "issued_at",
        ],
    ),
    "ix_completion_learner_course": (
        "completion",
        ["learner_id", "course_id"],
        ["id", "completed_at", "passed", "score"],
    ),
    "ix_learner_attribute_change_lookup": (
        "learner_attribute_change",
        ["learner_id", "name", "changed_at"],
        ["value", "id"],
    ),
}


def _rebuild(covering: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, columns, included) in INDEXES.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_include=included if covering else [])


def upgrade() -> None:
    _rebuild(covering=True)


def downgrade() -> None:
    _rebuild(covering=False)
