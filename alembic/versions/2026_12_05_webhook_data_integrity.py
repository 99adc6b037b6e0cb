"""Webhook subscriptions may ask for the credential's Data Integrity form beside (or instead of)
its VC-JWT on credential.issued / credential.renewed: webhook_subscription.include_data_integrity.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER on both databases: a SQLite batch copy would drop webhook_subscription, which
    # deliveries reference.
    op.add_column(
        "webhook_subscription",
        sa.Column(
            "include_data_integrity", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.execute("ALTER TABLE webhook_subscription DROP COLUMN include_data_integrity")
