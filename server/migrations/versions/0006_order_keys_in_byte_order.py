"""order keys in byte order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import foundation.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Fractional order keys must compare byte by byte; a locale collation (fi_FI, en_US) would tie
    # or reorder them. SQLite compares bytes already.
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE item ALTER COLUMN order_key TYPE VARCHAR(200) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE item ALTER COLUMN order_key TYPE VARCHAR(200)")
