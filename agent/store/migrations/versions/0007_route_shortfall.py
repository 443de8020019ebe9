"""a filled intent's implementation shortfall against its arrival mid, and its parts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.store.models import ExactDecimal

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    "arrival_out",
    "shortfall_bps",
    "spread_impact_bps",
    "delay_bps",
    "slippage_bps",
    "costs_bps",
)


def upgrade() -> None:
    with op.batch_alter_table("routes") as batch_op:
        for name in COLUMNS:
            batch_op.add_column(
                sa.Column(name, ExactDecimal(precision=38, scale=18), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("routes") as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
