"""what was received, kept with the intent: file name, digest, arrival time

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.store.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.add_column(sa.Column("submission_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("submission_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("received_at", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intents") as batch_op:
        batch_op.drop_column("received_at")
        batch_op.drop_column("submission_digest")
        batch_op.drop_column("submission_name")
