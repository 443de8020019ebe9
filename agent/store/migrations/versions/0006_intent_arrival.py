"""the pair's mid when an intent was read, its sources and its age

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.store.models import ExactDecimal

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.add_column(
            sa.Column("arrival_mid", ExactDecimal(precision=38, scale=18), nullable=True)
        )
        batch_op.add_column(sa.Column("arrival_price_source", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("arrival_price_age_s", ExactDecimal(precision=38, scale=18), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.drop_column("arrival_price_age_s")
        batch_op.drop_column("arrival_price_source")
        batch_op.drop_column("arrival_mid")
