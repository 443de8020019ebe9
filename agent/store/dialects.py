"""What the store builds differently per database: ``INSERT … ON CONFLICT`` (an upsert), which
each dialect's own ``insert()`` constructs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["UPSERT_INSERTS", "upsert_insert"]

# The two databases the store runs on.
UPSERT_INSERTS: dict[str, Any] = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def upsert_insert(connection: Connection) -> Any:
    """The connection's dialect's ``insert()``, whose statements take ``on_conflict_*``."""
    return UPSERT_INSERTS[connection.dialect.name]
