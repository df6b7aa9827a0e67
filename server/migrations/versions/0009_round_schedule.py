"""coaching rounds: a session's place, online link, agenda and calendar sequence; pushed exercises; the round's timer and announcement

Revision ID: 0009_round_schedule
Revises: 0008_admin_roles
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import foundation.db


revision = '0009_round_schedule'
down_revision = '0008_admin_roles'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('online_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('agenda', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('sequence', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(
            sa.Column(
                'updated_at',
                foundation.db.UTCDateTime(timezone=True),
                nullable=False,
                server_default=sa.text('CURRENT_TIMESTAMP'),
            )
        )


    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timer_ends_at', foundation.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('timer_paused_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('announcement', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('announced_at', foundation.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('board', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_board_exercise_id'), ['exercise_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('board', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_board_exercise_id'))
        batch_op.drop_column('exercise_id')
    with op.batch_alter_table('round', schema=None) as batch_op:
        for column in ('announced_at', 'announcement', 'timer_paused_seconds', 'timer_ends_at'):
            batch_op.drop_column(column)
    with op.batch_alter_table('scheduled_session', schema=None) as batch_op:
        for column in ('updated_at', 'sequence', 'agenda', 'online_url', 'place'):
            batch_op.drop_column(column)
