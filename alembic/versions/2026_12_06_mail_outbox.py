"""Email to earners from the outbox: mail_message (one per event and earner, leased and retried
like webhook deliveries) and mail_relay_cursor, created at the audit chain's head so that
configuring SMTP later never mails the history.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mail_message",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("credential_id", sa.String(length=45), nullable=False),
        sa.Column("learner_id", sa.String(length=128), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credential.id"], name=op.f("fk_mail_message_credential_id_credential")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learner.id"], name=op.f("fk_mail_message_learner_id_learner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mail_message_dedupe_key")),
    )
    op.create_index(
        op.f("ix_mail_message_credential_id"), "mail_message", ["credential_id"], unique=False
    )
    op.create_index(
        op.f("ix_mail_message_learner_id"), "mail_message", ["learner_id"], unique=False
    )
    op.create_index(
        "ix_mail_message_due",
        "mail_message",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "mail_relay_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_relay_cursor")),
    )
    op.execute(
        "INSERT INTO mail_relay_cursor (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM audit_event"
    )


def downgrade() -> None:
    op.drop_table("mail_relay_cursor")
    op.drop_index("ix_mail_message_due", table_name="mail_message")
    op.drop_index(op.f("ix_mail_message_learner_id"), table_name="mail_message")
    op.drop_index(op.f("ix_mail_message_credential_id"), table_name="mail_message")
    op.drop_table("mail_message")
