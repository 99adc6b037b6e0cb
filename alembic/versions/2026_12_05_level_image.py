"""A level may name its badge image (an absolute URL) in the catalog: level.image. Without one,
credentials name the image Credence draws for the level (/achievements/{track}/{level}/image.svg).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER on both databases: a SQLite batch copy of level would trip the foreign keys
    # (and any trigger) that name it.
    op.add_column("level", sa.Column("image", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE level DROP COLUMN image")  # SQLite >= 3.35
