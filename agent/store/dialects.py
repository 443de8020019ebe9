"""What the store builds differently per database: ``INSERT … ON CONFLICT`` (an upsert), which
each dialect's own ``insert()`` constructs."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["UPSERT_INSERTS", "UpsertInsert", "upsert_insert"]

# An ``insert()`` whose statements take ``on_conflict_*``.
UpsertInsert = Callable[[Table], postgresql.Insert | sqlite.Insert]

# The two databases the store runs on.
UPSERT_INSERTS: dict[str, UpsertInsert] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def upsert_insert(connection: Connection) -> UpsertInsert:
    """The connection's dialect's ``insert()``, whose statements take ``on_conflict_*``."""
    return UPSERT_INSERTS[connection.dialect.name]
