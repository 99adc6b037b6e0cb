"""Completions, credentials with status history, signing keys and status lists.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:49:13.188613
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('signing_key',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('alg', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('public_jwk', sa.JSON(), nullable=False),
    sa.Column('private_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('compromised_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_key'))
    )
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_key_state'), ['state'], unique=False)

    op.create_table('status_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_list'))
    )
    op.create_table('completion',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('learner_id', sa.String(length=128), nullable=False),
    sa.Column('course_id', sa.String(length=128), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['course.id'], name=op.f('fk_completion_course_id_course')),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_completion_learner_id_learner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_completion')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_completion_source_external_id'))
    )
    with op.batch_alter_table('completion', schema=None) as batch_op:
        batch_op.create_index('ix_completion_completed_at', ['completed_at'], unique=False)
        batch_op.create_index('ix_completion_learner_course', ['learner_id', 'course_id'], unique=False)

    op.create_table('credential',
    sa.Column('id', sa.String(length=45), nullable=False),
    sa.Column('learner_id', sa.String(length=128), nullable=False),
    sa.Column('level_id', sa.String(length=129), nullable=False),
    sa.Column('level_version', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('superseded_by', sa.String(length=45), nullable=True),
    sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('renewal', sa.Boolean(), nullable=False),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('jwt', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_credential_learner_id_learner')),
    sa.ForeignKeyConstraint(['level_id'], ['level.id'], name=op.f('fk_credential_level_id_level')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential'))
    )
    with op.batch_alter_table('credential', schema=None) as batch_op:
        batch_op.create_index('ix_credential_learner_level', ['learner_id', 'level_id'], unique=False)
        batch_op.create_index('ix_credential_valid_until', ['valid_until'], unique=False)

    op.create_table('credential_status_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=45), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['credential.id'], name=op.f('fk_credential_status_event_credential_id_credential')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credential_status_event'))
    )
    with op.batch_alter_table('credential_status_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credential_status_event_credential_id'), ['credential_id'], unique=False)

    op.create_table('status_slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=45), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('is_set', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['credential.id'], name=op.f('fk_status_slot_credential_id_credential')),
    sa.ForeignKeyConstraint(['list_id'], ['status_list.id'], name=op.f('fk_status_slot_list_id_status_list')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_slot')),
    sa.UniqueConstraint('list_id', 'idx', name=op.f('uq_status_slot_list_id_idx'))
    )
    with op.batch_alter_table('status_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_slot_credential_id'), ['credential_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('status_slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_slot_credential_id'))

    op.drop_table('status_slot')
    with op.batch_alter_table('credential_status_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credential_status_event_credential_id'))

    op.drop_table('credential_status_event')
    with op.batch_alter_table('credential', schema=None) as batch_op:
        batch_op.drop_index('ix_credential_valid_until')
        batch_op.drop_index('ix_credential_learner_level')

    op.drop_table('credential')
    with op.batch_alter_table('completion', schema=None) as batch_op:
        batch_op.drop_index('ix_completion_learner_course')
        batch_op.drop_index('ix_completion_completed_at')

    op.drop_table('completion')
    op.drop_table('status_list')
    with op.batch_alter_table('signing_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_key_state'))

    op.drop_table('signing_key')
