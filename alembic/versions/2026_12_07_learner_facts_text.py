"""A learner's facts row as one text instead of six arrays (PostgreSQL).

``learner_facts`` (migrations 0017, 0018) kept a learner's facts in six typed arrays. Every
uncached permission check reads one row: PostgreSQL sends an array element by element and
psycopg makes each element's Python value, which cost more, on both sides, than sending one
text and splitting it (some 7 us of PostgreSQL's time and 12,000 of the reading process's
instructions a learner). The row now holds ``facts``, one text: four parts (credentials, status
events, attribute changes, completions) of fields between separators, described in
``service.permissions.repository``.

The rows are derived data, labelled with the learner's facts revision: they are emptied here
and built again by the checks as they find them missing (a learner's first check after the
upgrade takes one more round trip), or all at once with ``credence db build-facts`` (about a
minute a million learners). Run it after upgrading a large deployment. Downgrading
empties them the same way, into the six arrays.

As with every migration, stop the service while it runs: a process of the previous version
would ask for the columns that are gone.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The columns 0018 had and 0019 does not.
SIX = (
    ("c_text", "TEXT[]"),
    ("c_at", "TIMESTAMPTZ[]"),
    ("pairs", "TEXT[]"),
    ("times", "TIMESTAMPTZ[]"),
    ("numbers", "BIGINT[]"),
    ("scores", "FLOAT8[]"),
)
#: What 0019 has instead: every row a check builds has its text (an empty part is '').
ONE = (("facts", "TEXT NOT NULL"),)


def _relayout(drop: tuple[tuple[str, str], ...], add: tuple[tuple[str, str], ...]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("TRUNCATE learner_facts")
    changes = [f"DROP COLUMN {name}" for name, _ in drop]
    changes += [f"ADD COLUMN {name} {kind}" for name, kind in add]
    op.execute(f"ALTER TABLE learner_facts {', '.join(changes)}")


def upgrade() -> None:
    _relayout(SIX, ONE)


def downgrade() -> None:
    _relayout(ONE, SIX)
