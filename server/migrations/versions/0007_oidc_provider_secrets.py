"""identity providers: sealed client secret or an environment variable's name

Revision ID: 0007_oidc_providers
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007_oidc_providers'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Secrets stored before this revision are plain text; `kumppani migrate` seals them right after
    # upgrading, with the secret key that a migration script does not have.
    with op.batch_alter_table('identity_provider') as batch_op:
        batch_op.alter_column(
            'client_secret', existing_type=sa.String(length=500), type_=sa.String(length=1000), nullable=True
        )
        batch_op.add_column(sa.Column('client_secret_env', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_provider') as batch_op:
        batch_op.drop_column('client_secret_env')
        batch_op.alter_column(
            'client_secret', existing_type=sa.String(length=1000), type_=sa.String(length=500), nullable=False
        )
