"""Apply the Alembic migrations that ship with the package, at start or from the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# PostgreSQL advisory lock key ("otc-migr"): replicas starting together on a fresh database
# migrate one after the other instead of racing to create the same tables.
MIGRATION_LOCK_KEY = 0x6F74632D6D696772


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        # Held to the end of the transaction the migration runs in (DDL is transactional
        # there): the next replica then finds the schema at head and has nothing to do.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    command.upgrade(alembic_config(connection), revision)
