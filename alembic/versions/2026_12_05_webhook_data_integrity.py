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
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "include_data_integrity",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_column("include_data_integrity")
