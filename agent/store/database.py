"""The database handle: one async engine per process, transactions, and error triage.

Errors are sorted by what the caller does next: :class:`StoreUnavailable` means wait and retry
(the daemon stops claiming work until a ping succeeds); anything else is a bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from agent.store import migrate

__all__ = ["Store", "StoreUnavailable", "is_transient"]


class StoreUnavailable(Exception):
    """The database cannot be reached or is busy; retry later, nothing was committed."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        # Driver messages carry the whole statement and its parameters; the first line is enough.
        first_line = (str(cause).splitlines() or [""])[0]
        super().__init__(f"database unavailable: {type(cause).__name__}: {first_line}")


def is_transient(exc: BaseException) -> bool:
    transient = StoreUnavailable | OperationalError | InterfaceError | OSError | TimeoutError
    if isinstance(exc, transient):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that every write transaction
    # starts with BEGIN IMMEDIATE: SQLite then queues writers instead of failing one of them.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """Owns the engine; hands out transactions. Build one per process with :meth:`from_url`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer; queueing writers here is cheaper than its busy-wait sleeps.
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: float = 5.0) -> Store:
        parsed = make_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            if not database or database == ":memory:":
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 10
            kwargs["pool_recycle"] = 300
            if parsed.get_driver_name() == "asyncpg":
                kwargs["connect_args"] = {"timeout": connect_timeout_s}
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return cls(engine)

    @classmethod
    def for_tests(cls, url: str) -> Store:
        """A store whose connections are never pooled, so a test can drop its database."""
        store = cls.from_url(url)
        store.engine = create_async_engine(url, poolclass=NullPool)
        if store.dialect == "sqlite":
            event.listen(store.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(store.engine.sync_engine, "begin", _sqlite_begin)
        return store

    async def upgrade(self) -> None:
        try:
            await migrate.upgrade(self.engine)
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(exc) from exc
            raise

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            if is_transient(exc):
                raise StoreUnavailable(exc) from exc
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit: commits on success, rolls back on any error (also on cancel)."""
        try:
            if self._write_lock is None:
                async with self.engine.begin() as connection:
                    yield connection
            else:
                async with self._write_lock, self.engine.begin() as connection:
                    yield connection
        except Exception as exc:
            if is_transient(exc) and not isinstance(exc, StoreUnavailable):
                raise StoreUnavailable(exc) from exc
            raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as connection:
                yield connection
        except Exception as exc:
            if is_transient(exc) and not isinstance(exc, StoreUnavailable):
                raise StoreUnavailable(exc) from exc
            raise

    async def aclose(self) -> None:
        # Disposal must finish even when the caller is being cancelled.
        await asyncio.shield(self.engine.dispose())
