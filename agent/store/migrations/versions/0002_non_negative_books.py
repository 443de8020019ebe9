"""books and usage never below zero

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CHECKS = {
    "otc_pools": (
        ("ck_otc_pools_base_inventory", "base_inventory >= 0"),
        ("ck_otc_pools_quote_inventory", "quote_inventory >= 0"),
    ),
    "localdex_pools": (
        ("ck_localdex_pools_base_reserve", "base_reserve > 0"),
        ("ck_localdex_pools_quote_reserve", "quote_reserve > 0"),
    ),
    "wallet_usage": (("ck_wallet_usage_used", "used_usd_micros >= 0"),),
}


def upgrade() -> None:
    # batch mode: SQLite can only add a constraint by rebuilding the table.
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch_op:
            for name, condition in checks:
                batch_op.create_check_constraint(name, condition)


def downgrade() -> None:
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch_op:
            for name, _condition in checks:
                batch_op.drop_constraint(name, type_="check")
