"""Report indexes: covering indexes so the reports read indexes in order instead of visiting
a million table rows at random (SQLite has no hash aggregation; PostgreSQL gets index-only scans).

- completion (learner_id, completed_at, passed, course_id, score): per-learner progress and
  first completion in one ordered pass;
- completion (completed_at, passed, learner_id): completions per calendar month;
- learner_attribute_change (name, learner_id, changed_at, id, value): attribute intervals;
- credential (learner_id, level_id, valid_from, valid_until, superseded_at, status,
  status_changed_at): who holds what at a moment.

They are declared here only (not on the models, which other packages own); each costs a little
on writes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:45:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    'ix_completion_report_learner': (
        'completion', ['learner_id', 'completed_at', 'passed', 'course_id', 'score']
    ),
    'ix_completion_report_month': ('completion', ['completed_at', 'passed', 'learner_id']),
    'ix_learner_attribute_change_report': (
        'learner_attribute_change', ['name', 'learner_id', 'changed_at', 'id', 'value']
    ),
    'ix_credential_report': (
        'credential',
        [
            'learner_id',
            'level_id',
            'valid_from',
            'valid_until',
            'superseded_at',
            'status',
            'status_changed_at',
        ],
    ),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
