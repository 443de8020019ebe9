"""The database handle: one engine per process, driven from a small pool of worker threads.

Every unit of database work is a plain function taking a SQLAlchemy ``Connection``; the
store runs it inside a transaction on one of its threads and the event loop awaits the
result. A whole batch of statements therefore costs one hand-over between the loop and a
thread instead of one per statement, and a transaction, once started, always finishes
(commit or rollback) even if the awaiting task is cancelled. SQLite gets a single thread
(it has a single writer anyway); PostgreSQL gets one per pooled connection.

Errors are sorted by what the caller does next: :class:`StoreUnavailable` means wait and
retry (the daemon stops claiming work until a ping succeeds); anything else is a bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool

from agent.store import migrate

__all__ = ["Store", "StoreUnavailable", "is_transient", "normalise_url"]

T = TypeVar("T")

# Async driver names are accepted for compatibility and mapped to the synchronous drivers
# the store's threads use.
_DRIVERS = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+aiosqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
}


class StoreUnavailable(Exception):
    """The database cannot be reached or is busy; retry later, nothing was committed."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        # Driver messages carry the whole statement and its parameters; the first line is enough.
        first_line = (str(cause).splitlines() or [""])[0]
        super().__init__(f"database unavailable: {type(cause).__name__}: {first_line}")


def is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc, StoreUnavailable | OperationalError | InterfaceError | OSError | TimeoutError
    ):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def normalise_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_DRIVERS.get(parsed.drivername, parsed.drivername))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that every transaction starts
    # with BEGIN IMMEDIATE: SQLite then queues writers from other processes instead of
    # failing one of them halfway through.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the intake moves the file it answers (those moves are
    # fsynced too). NORMAL would let a power cut undo committed outcomes whose files already
    # sit in done/, and with them the replay guard.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """Owns the engine and its threads; build one per process with :meth:`from_url`."""

    def __init__(self, engine: Engine, *, threads: int) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="otc-agent-db")

    @classmethod
    def from_url(cls, url: str, *, connect_timeout_s: float = 5.0, pooled: bool = True) -> Store:
        parsed = normalise_url(url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if not database or database == ":memory:":
                raise ValueError("an in-memory SQLite database cannot be shared; use a file")
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            threads = 1
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_recycle"] = 300
            kwargs["connect_args"] = {"connect_timeout": max(1, int(connect_timeout_s))}
            threads = 8
            if pooled:
                kwargs["pool_size"] = threads
                kwargs["max_overflow"] = 0
        if not pooled:
            kwargs["poolclass"] = NullPool
        engine = create_engine(parsed, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        return cls(engine, threads=threads)

    async def _run(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, work)
        try:
            # Shielded: the thread finishes its transaction whatever happens to the caller.
            return await asyncio.shield(future)
        except Exception as exc:
            if is_transient(exc) and not isinstance(exc, StoreUnavailable):
                raise StoreUnavailable(exc) from exc
            raise

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(connection, *args)`` in one transaction: committed, or rolled back."""

        def unit() -> T:
            with self.engine.begin() as connection:
                return work(connection, *args)

        return await self._run(unit)

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        def unit() -> T:
            with self.engine.connect() as connection:
                return work(connection, *args)

        return await self._run(unit)

    async def upgrade(self) -> None:
        await self.write(migrate.upgrade)

    async def ping(self) -> None:
        await self.read(_select_one)

    async def aclose(self) -> None:
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, self._close))

    def _close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def _select_one(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))
