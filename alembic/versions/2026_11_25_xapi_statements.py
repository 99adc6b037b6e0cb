"""xAPI statements: every accepted statement id, its content hash and what it mapped to.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:59:29.069568
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('xapi_statement',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('verb_id', sa.String(length=500), nullable=False),
    sa.Column('activity_id', sa.String(length=2048), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('completion_id', sa.String(length=36), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['completion_id'], ['completion.id'], name=op.f('fk_xapi_statement_completion_id_completion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_xapi_statement'))
    )
    with op.batch_alter_table('xapi_statement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_xapi_statement_source'), ['source'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('xapi_statement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_xapi_statement_source'))

    op.drop_table('xapi_statement')
