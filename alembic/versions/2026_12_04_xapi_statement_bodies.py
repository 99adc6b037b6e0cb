"""xAPI statements kept as stored, so they can be read back (GET /xapi/statements):

- xapi_statement.statement: the statement as stored (JSON text, with id, stored, authority,
  version and timestamp set); null for statements accepted before this revision, which kept
  only their content hash (those cannot be read back);
- xapi_statement.object_type: the object's objectType (the activity filter needs Activity);
- indexes on (received_at, id) for paging by stored time, and on activity_id (hash on
  PostgreSQL, whose b-tree entries cannot hold a 2048-character IRI) for the activity filter
  and the "is it voided?" probe;
- xapi_statement_agent: the agents each statement is about, by a hash of their identifier;
- xapi_attachment: attachment data, when CREDENCE_XAPI_ATTACHMENTS=store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('xapi_statement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('object_type', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('statement', sa.Text(), nullable=True))
        batch_op.create_index(
            'ix_xapi_statement_received_at', ['received_at', 'id'], unique=False
        )
        batch_op.create_index(
            'ix_xapi_statement_activity_id', ['activity_id'], unique=False,
            postgresql_using='hash',
        )

    op.create_table('xapi_statement_agent',
    sa.Column('statement_id', sa.String(length=36), nullable=False),
    sa.Column('agent_key', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['statement_id'], ['xapi_statement.id'], name=op.f('fk_xapi_statement_agent_statement_id_xapi_statement')),
    sa.PrimaryKeyConstraint('statement_id', 'agent_key', name=op.f('pk_xapi_statement_agent'))
    )
    with op.batch_alter_table('xapi_statement_agent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_xapi_statement_agent_agent_key'), ['agent_key'], unique=False)

    op.create_table('xapi_attachment',
    sa.Column('sha2', sa.String(length=128), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('length', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha2', name=op.f('pk_xapi_attachment'))
    )


def downgrade() -> None:
    op.drop_table('xapi_attachment')
    with op.batch_alter_table('xapi_statement_agent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_xapi_statement_agent_agent_key'))
    op.drop_table('xapi_statement_agent')
    with op.batch_alter_table('xapi_statement', schema=None) as batch_op:
        batch_op.drop_index('ix_xapi_statement_activity_id')
        batch_op.drop_index('ix_xapi_statement_received_at')
        batch_op.drop_column('statement')
        batch_op.drop_column('object_type')
