"""A learner's facts kept in one row (PostgreSQL): what an uncached permission check reads.

An uncached check reads every credential (with its status events where its status changed),
attribute change and completion of the learner: index ranges in four indexes, some twenty-three
pages a learner at a million learners. ``learner_facts`` keeps the same facts in one row a
learner, as arrays (a credential's fields side by side, and so on), labelled with the ``learner.facts_revision`` they were read at. A check uses a
row only while its label equals the learner's current revision (read in the same statement),
so a row left behind by a later change is never used, only rewritten: the triggers that bump
the revision (migration 0007) are all it relies on. No write path writes it. The check's own
statement writes a learner's row when it finds it missing or behind, built in SQL from the
tables in that statement's snapshot (``service.permissions.repository``), and later checks of
that learner, by any process, read the one row.

PostgreSQL only: on SQLite the check reads the tables in-process, which costs microseconds.
The row goes with its learner (``ON DELETE CASCADE``). The table starts empty; ``credence db
build-facts`` fills it ahead of the checks.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE learner_facts ("
        " learner_id VARCHAR(128) NOT NULL"
        "  CONSTRAINT pk_learner_facts PRIMARY KEY"
        "  CONSTRAINT fk_learner_facts_learner_id_learner REFERENCES learner (id)"
        "  ON DELETE CASCADE,"
        " revision BIGINT NOT NULL,"
        # per credential: (id, level_id, status, superseded_by) and (valid_from, valid_until,
        # status_changed_at, superseded_at)
        " c_text TEXT[], c_at TIMESTAMPTZ[],"
        # per status event a check uses: (credential_id, status), at, id
        " e_text TEXT[], e_at TIMESTAMPTZ[], e_id BIGINT[],"
        # per attribute change: (name, value), changed_at, id
        " a_text TEXT[], a_at TIMESTAMPTZ[], a_id BIGINT[],"
        # per completion: (id, course_id), completed_at, score, passed
        " m_text TEXT[], m_at TIMESTAMPTZ[], m_score FLOAT8[], m_passed BOOLEAN[])"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE learner_facts")
