"""Offers of a credential to the earner's wallet (OID4VCI pre-authorized code flow and VC-API
exchanges): credential_offer keeps only hashes of the code, transaction code, exchange id and
access token.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential_offer",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("credential_id", sa.String(length=45), nullable=False),
        sa.Column("learner_id", sa.String(length=128), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("tx_code_hash", sa.String(length=64), nullable=True),
        sa.Column("tx_code_failures", sa.Integer(), nullable=False),
        sa.Column("exchange_hash", sa.String(length=64), nullable=True),
        sa.Column("challenge", sa.String(length=64), nullable=True),
        sa.Column("access_token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("code_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_to", sa.String(length=2048), nullable=True),
        sa.Column("delivered_format", sa.String(length=16), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["credential.id"],
            name=op.f("fk_credential_offer_credential_id_credential"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learner.id"], name=op.f("fk_credential_offer_learner_id_learner")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_offer")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_credential_offer_code_hash")),
        sa.UniqueConstraint("exchange_hash", name=op.f("uq_credential_offer_exchange_hash")),
        sa.UniqueConstraint(
            "access_token_hash", name=op.f("uq_credential_offer_access_token_hash")
        ),
    )
    op.create_index(
        op.f("ix_credential_offer_credential_id"),
        "credential_offer",
        ["credential_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_credential_offer_credential_id"), table_name="credential_offer")
    op.drop_table("credential_offer")
