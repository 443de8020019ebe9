"""whether a leg filled a firm quote (no slippage is measured against one)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("route_legs") as batch_op:
        batch_op.add_column(sa.Column("firm", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route_legs") as batch_op:
        batch_op.drop_column("firm")
