"""The migrated schema on SQLite and PostgreSQL: it matches the models and keeps values exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, insert, inspect, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError, StatementError

from agent.store import migrate
from agent.store.database import Store
from agent.store.models import Base, OtcPoolRow, PriceSnapshotRow, WalletRow

snapshots = PriceSnapshotRow.__table__
otc_pools = OtcPoolRow.__table__
wallets = WalletRow.__table__

WHEN = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)


@pytest.fixture(name="store")
async def _store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on a fresh database, closed after the test."""
    store = Store.from_url(database_url)
    try:
        await store.upgrade()
        yield store
    finally:
        await store.aclose()


def _head() -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert head is not None
    return head


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _insert_snapshot(connection: Connection, usd: Decimal, when: datetime) -> int:
    return connection.execute(
        insert(snapshots)
        .values(symbol="SOL", usd=usd, source="static", observed_at=when)
        .returning(snapshots.c.id)
    ).scalar_one()


def _snapshot_column(connection: Connection, column: str, row_id: int) -> object:
    return connection.execute(
        select(snapshots.c[column]).where(snapshots.c.id == row_id)
    ).scalar_one()


async def _store_decimal(store: Store, value: Decimal) -> Decimal:
    row_id = await store.write(_insert_snapshot, value, WHEN)
    return await store.read(_snapshot_column, "usd", row_id)  # type: ignore[return-value]


async def _store_time(store: Store, when: datetime) -> datetime:
    row_id = await store.write(_insert_snapshot, Decimal(1), when)
    return await store.read(_snapshot_column, "observed_at", row_id)  # type: ignore[return-value]


def _count_rows(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(snapshots)).scalar_one()


async def _count_snapshots(store: Store) -> int:
    return await store.read(_count_rows)


async def test_upgrade_creates_every_model_table(store: Store) -> None:
    """Migrating an empty database creates every model's table and stamps the head revision."""
    tables = await store.read(_tables)
    revision = await store.read(_revision)
    assert set(Base.metadata.tables) | {"alembic_version"} == tables
    assert revision == _head()


async def test_models_match_the_migrated_schema(store: Store) -> None:
    """Autogenerate finds no difference between the ORM metadata and the migrated database."""
    assert await store.read(_diff) == []


async def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    """A second upgrade keeps the revision, the tables and the rows already written."""
    await _store_decimal(store, Decimal("150.25"))
    await store.upgrade()
    tables = await store.read(_tables)
    revision = await store.read(_revision)
    differences = await store.read(_diff)
    assert set(Base.metadata.tables) | {"alembic_version"} == tables
    assert revision == _head()
    assert differences == []
    assert await _count_snapshots(store) == 1


# (value written, value read back as text): exact, normalised, never through a float.
ROUND_TRIPS = [
    (Decimal("0.1"), "0.1"),
    (Decimal("123456789.123456789012345678"), "123456789.123456789012345678"),
    (Decimal("99999999999999999999.999999999999999999"), "99999999999999999999.999999999999999999"),
    (Decimal("-0.000000000000000001"), "-1E-18"),
    (Decimal("150"), "150"),
    (Decimal("1E+1"), "10"),
    (Decimal("2.50"), "2.5"),
    (Decimal(0), "0"),
    (Decimal("0E+20"), "0"),
    (Decimal("-0E-30"), "0"),
]  # fmt: skip

# Digits past the 18th decimal place are rounded half-even before the database sees them.
ROUNDED = [
    (Decimal("0.1234567890123456785"), Decimal("0.123456789012345678")),
    (Decimal("0.1234567890123456795"), Decimal("0.12345678901234568")),
    (Decimal("8.123456789012345678901234567890123456789"), Decimal("8.123456789012345679")),
    (Decimal("-1.0000000000000000004"), Decimal("-1")),
]

REFUSED = [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+20"), Decimal("-123456789012345678901")]


async def test_exact_decimal_round_trips_exactly(store: Store) -> None:
    """ExactDecimal gives back the same Decimal value, without trailing zeros, on every backend."""
    for value, text in ROUND_TRIPS:
        loaded = await _store_decimal(store, value)
        assert isinstance(loaded, Decimal), value
        assert loaded == value
        assert str(loaded) == text


async def test_exact_decimal_rounds_beyond_its_scale_alike_everywhere(store: Store) -> None:
    """Digits past the 18th decimal place are rounded half-even the same way on both backends."""
    for value, stored in ROUNDED:
        assert await _store_decimal(store, value) == stored, value


async def test_exact_decimal_refuses_what_it_cannot_hold(store: Store) -> None:
    """Non-finite values and values over 20 integer digits are refused; nothing is written."""
    for value in REFUSED:
        with pytest.raises(StatementError) as caught:
            await _store_decimal(store, value)
        assert isinstance(caught.value.orig, ValueError), value
    assert await _count_snapshots(store) == 0


# The same instant in several zones; each must come back as that instant in UTC.
INSTANTS = [
    WHEN,
    datetime(2025, 6, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
    datetime(2025, 6, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2025, 6, 1, 12, 30, 0, 123456, tzinfo=UTC),
]


async def test_utc_datetime_returns_aware_utc(store: Store) -> None:
    """UtcDateTime gives back the same instant as an aware datetime with a zero UTC offset."""
    for when in INSTANTS:
        loaded = await _store_time(store, when)
        assert loaded.utcoffset() == timedelta(0), when
        assert loaded == when
        assert loaded.replace(tzinfo=None) == when.astimezone(UTC).replace(tzinfo=None)


async def test_utc_datetime_refuses_naive(store: Store) -> None:
    """A naive datetime is refused before it reaches the database, and nothing is written."""
    with pytest.raises(StatementError) as caught:
        await _store_time(store, datetime(2025, 6, 1, 12, 30))
    assert isinstance(caught.value.orig, ValueError)
    assert await _count_snapshots(store) == 0


AMOUNTS = [0, 1, 2**53 + 1, 10**18 + 7, 2**63 - 2, 2**63 - 1]
AMOUNT_COLUMNS = ("base_inventory", "quote_inventory", "target_base", "target_quote", "fills",
                  "last_look_rejects")  # fmt: skip


async def test_big_integer_amounts_round_trip(store: Store) -> None:
    """BIGINT amount columns keep every integer up to 2**63 - 1 exactly (no float on the way)."""

    def write(connection: Connection) -> None:
        for index, amount in enumerate(AMOUNTS):
            amounts = dict.fromkeys(AMOUNT_COLUMNS, amount)
            connection.execute(
                insert(otc_pools).values(
                    id=f"pool-{index}",
                    base_mint="b",
                    quote_mint="q",
                    enabled=True,
                    updated_at=WHEN,
                    **amounts,
                )
            )

    await store.write(write)
    rows = await store.read(
        lambda connection: connection.execute(select(otc_pools).order_by(otc_pools.c.id)).all()
    )
    for row, amount in zip(rows, AMOUNTS, strict=True):
        values = tuple(getattr(row, column) for column in AMOUNT_COLUMNS)
        assert values == (amount,) * len(AMOUNT_COLUMNS)
        assert all(type(value) is int for value in values)


async def test_model_defaults_fill_timestamps_and_text(store: Store) -> None:
    """Columns with Python defaults get them on a Core insert: aware timestamps, empty strings."""
    await store.write(
        lambda connection: connection.execute(
            insert(wallets).values(
                pubkey="W", max_notional_usd=Decimal(1), daily_notional_usd=Decimal(2)
            )
        )
    )
    row = await store.read(lambda connection: connection.execute(select(wallets)).one())
    assert (row.keypair_path, row.pairs, row.source) == ("", "", "cli")
    assert row.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - row.created_at) < timedelta(minutes=5)


async def test_migrate_upgrade_runs_on_a_given_connection(database_url: str) -> None:
    """migrate.upgrade() runs in the caller's transaction: rolled back with it, committed with it."""
    store = Store.from_url(database_url)
    try:
        assert await store.read(_tables) == set()

        def upgrade_then_fail(connection: Connection) -> None:
            migrate.upgrade(connection)
            assert _revision(connection) == _head()
            raise RuntimeError("abandon the migration")

        with pytest.raises(RuntimeError):
            await store.write(upgrade_then_fail)
        assert await store.read(_tables) == set()  # DDL is transactional on both backends
        await store.write(migrate.upgrade)
        assert await store.read(_revision) == _head()
        assert await store.read(_diff) == []
    finally:
        await store.aclose()


@pytest.mark.parametrize("column", ["base_inventory", "quote_inventory"])
async def test_database_refuses_an_otc_book_below_zero(store: Store, column: str) -> None:
    """An update that would take a pool's inventory below zero fails in the database itself."""

    def seed(connection: Connection) -> None:
        connection.execute(
            insert(otc_pools).values(
                id="pool",
                base_mint="b",
                quote_mint="q",
                base_inventory=10,
                quote_inventory=10,
                target_base=10,
                target_quote=10,
                fills=0,
                last_look_rejects=0,
                enabled=True,
                updated_at=WHEN,
            )
        )

    await store.write(seed)
    with pytest.raises(IntegrityError):
        await store.write(
            lambda connection: connection.execute(
                update(otc_pools).where(otc_pools.c.id == "pool").values({column: -1})
            )
        )
    row = await store.read(lambda connection: connection.execute(select(otc_pools)).one())
    assert (row.base_inventory, row.quote_inventory) == (10, 10)


async def test_replicas_migrating_a_fresh_postgres_at_once_all_succeed(postgres_url: str) -> None:
    """Four stores upgrading one empty PostgreSQL together all succeed (one migrates, the others
    wait for it and find the schema at head)."""
    stores = [Store.from_url(postgres_url) for _ in range(4)]
    try:
        # Without the migration lock these block on each other's uncommitted tables.
        await asyncio.wait_for(asyncio.gather(*(store.upgrade() for store in stores)), 60)
        version = await stores[0].read(
            lambda connection: connection.execute(
                sql_text("SELECT version_num FROM alembic_version")
            ).scalar_one()
        )
    finally:
        await asyncio.gather(*(store.aclose() for store in stores))
    assert version == _head()


async def test_sqlite_commits_reach_the_disk_before_they_return(sqlite_url: str) -> None:
    """SQLite runs in WAL mode with synchronous=FULL: a power cut cannot undo a commit whose
    submission file was already moved on."""

    def pragmas(connection: Connection) -> tuple[str, int]:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        return mode, connection.exec_driver_sql("PRAGMA synchronous").scalar_one()

    store = Store.from_url(sqlite_url)
    try:
        await store.upgrade()
        assert await store.read(pragmas) == ("wal", 2)
    finally:
        await store.aclose()
