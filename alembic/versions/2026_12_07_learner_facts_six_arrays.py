"""A learner's facts row in six arrays instead of twelve (PostgreSQL).

``learner_facts`` (migration 0017) kept each part of a learner's facts in arrays of its own: a
credential's four strings side by side in a two-dimensional ``TEXT[]`` and its four moments in
a ``TIMESTAMPTZ[]``, then three arrays for the status events, three for the attribute changes
and four for the completions: twelve a row. Every uncached permission check reads one row, and
psycopg and PostgreSQL each pay per array. The credentials keep their two arrays; the status
events, attribute changes and completions now share four (``pairs``, ``times``, ``numbers``,
``scores``: the layout is described in ``service.permissions.repository``). An active
credential's ``status_changed_at`` is no longer kept: nothing reads it.

The rows are derived data, labelled with the learner's facts revision: they are emptied here
and built again by the checks as they find them missing (a learner's first check after the
upgrade takes one more round trip), or all at once with ``credence db build-facts`` (two to
three minutes a million learners). Run it after upgrading a large deployment. Downgrading
empties them the same way, into the twelve arrays.

As with every migration, stop the service while it runs: a process of the previous version
would ask for the columns that are gone.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The columns 0017 had and 0018 does not (the credentials' c_text and c_at stay).
TEN = (
    ("e_text", "TEXT[]"),
    ("e_at", "TIMESTAMPTZ[]"),
    ("e_id", "BIGINT[]"),
    ("a_text", "TEXT[]"),
    ("a_at", "TIMESTAMPTZ[]"),
    ("a_id", "BIGINT[]"),
    ("m_text", "TEXT[]"),
    ("m_at", "TIMESTAMPTZ[]"),
    ("m_score", "FLOAT8[]"),
    ("m_passed", "BOOLEAN[]"),
)
#: What 0018 has instead.
FOUR = (
    ("pairs", "TEXT[]"),
    ("times", "TIMESTAMPTZ[]"),
    ("numbers", "BIGINT[]"),
    ("scores", "FLOAT8[]"),
)


def _relayout(drop: tuple[tuple[str, str], ...], add: tuple[tuple[str, str], ...]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("TRUNCATE learner_facts")
    changes = [f"DROP COLUMN {name}" for name, _ in drop]
    changes += [f"ADD COLUMN {name} {kind}" for name, kind in add]
    op.execute(f"ALTER TABLE learner_facts {', '.join(changes)}")


def upgrade() -> None:
    _relayout(TEN, FOUR)


def downgrade() -> None:
    _relayout(FOUR, TEN)
