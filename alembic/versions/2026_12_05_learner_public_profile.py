"""A learner may choose whether their name shows on their credentials' public pages and public
certificates: learner.public_profile (null: the deployment's CREDENCE_PUBLIC_NAMES).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER on both databases: a SQLite batch copy of learner would break the triggers
    # and foreign keys that name it.
    op.add_column("learner", sa.Column("public_profile", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE learner DROP COLUMN public_profile")  # SQLite >= 3.35
