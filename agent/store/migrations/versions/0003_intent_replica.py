"""the replica that reserved an intent's fill

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.add_column(sa.Column("replica", sa.String(length=96), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.drop_column("replica")
