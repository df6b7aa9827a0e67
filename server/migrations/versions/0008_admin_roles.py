"""admin and roles: share link expiry, contact person changes, named facilitators

Revision ID: 0008_admin_roles
Revises: 0007_oidc_providers
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import foundation.db


revision = '0008_admin_roles'
down_revision = '0007_oidc_providers'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('board', schema=None) as batch_op:
        batch_op.add_column(sa.Column('share_expires_at', foundation.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_changed_at', foundation.db.UTCDateTime(timezone=True), nullable=True))
    # Links made before links expired: withdrawn rather than left open without an end.
    op.execute("UPDATE board SET share_token_hash = NULL WHERE share_token_hash IS NOT NULL")
    # A team page that names a facilitator now means it: only they facilitate.
    op.execute(
        "UPDATE team SET facilitators_named = EXISTS "
        "(SELECT 1 FROM membership WHERE membership.team_id = team.id AND membership.is_facilitator)"
    )


def downgrade() -> None:
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_column('contact_changed_at')
    with op.batch_alter_table('board', schema=None) as batch_op:
        batch_op.drop_column('share_expires_at')
