"""progress updates: linked ideas and tests, deliveries with read marks, replies; the mail outbox; anonymous feedback

Revision ID: 0010_progress_updates
Revises: 0009_round_schedule
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import foundation.db


revision = '0010_progress_updates'
down_revision = '0009_round_schedule'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mail_outbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', foundation.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', foundation.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', foundation.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_mail_outbox_person_id_person'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_mail_outbox_message_id'))
    )
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mail_outbox_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_mail_outbox_person_id'), ['person_id'], unique=False)
    op.create_table('progress_link',
    sa.Column('update_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_progress_link_item_id_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['update_id'], ['progress_update.id'], name=op.f('fk_progress_link_update_id_progress_update'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('update_id', 'item_id', name=op.f('pk_progress_link'))
    )
    op.create_table('progress_delivery',
    sa.Column('update_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('read_at', foundation.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_progress_delivery_person_id_person'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['update_id'], ['progress_update.id'], name=op.f('fk_progress_delivery_update_id_progress_update'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('update_id', 'person_id', name=op.f('pk_progress_delivery'))
    )
    with op.batch_alter_table('progress_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_delivery_person_id'), ['person_id'], unique=False)
    op.create_table('progress_reply',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('update_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=True),
    sa.Column('body', sa.String(length=2000), nullable=False),
    sa.Column('created_at', foundation.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_progress_reply_person_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['update_id'], ['progress_update.id'], name=op.f('fk_progress_reply_update_id_progress_update'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_reply'))
    )
    with op.batch_alter_table('progress_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_reply_update_id'), ['update_id'], unique=False)


    op.create_table('feedback_answer',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('update_id', sa.String(length=32), nullable=True),
    sa.Column('answered_on', sa.Date(), nullable=False),
    sa.Column('worth', sa.String(length=10), nullable=True),
    sa.Column('heard', sa.String(length=10), nullable=True),
    sa.Column('comment', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_feedback_answer_team_id_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['update_id'], ['progress_update.id'], name=op.f('fk_feedback_answer_update_id_progress_update'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_answer'))
    )
    with op.batch_alter_table('feedback_answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_answer_team_id'), ['team_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_answer_team_id'))
    op.drop_table('feedback_answer')
    with op.batch_alter_table('progress_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_reply_update_id'))
    op.drop_table('progress_reply')
    with op.batch_alter_table('progress_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_delivery_person_id'))
    op.drop_table('progress_delivery')
    op.drop_table('progress_link')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_outbox_person_id'))
        batch_op.drop_index(batch_op.f('ix_mail_outbox_next_attempt_at'))
    op.drop_table('mail_outbox')
