"""OTC inventory and local-DEX reserves: the shared books every fill must move atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, bindparam, select, update

from agent.domain.amm import AmmReserves
from agent.domain.otc_pricing import OtcBook, OtcInventory
from agent.store.database import Store
from agent.store.dialects import upsert_insert
from agent.store.models import LocalDexPoolRow, OtcPoolRow

__all__ = [
    "AmmReserves",
    "OtcBook",
    "PoolBookKeeper",
    "SqlPoolBooks",
    "count_otc_rejects",
    "load_localdex_pools",
    "load_otc_pools",
    "lock_localdex_pools",
    "lock_otc_books",
    "save_localdex_pools",
    "save_otc_books",
    "seed_localdex_pool",
    "seed_otc_pool",
]

otc = OtcPoolRow.__table__
amm = LocalDexPoolRow.__table__


def seed_otc_pool(
    connection: Connection, pool_id: str, base_mint: str, quote_mint: str, start: OtcInventory
) -> None:
    """Create the pool's book on first start; a restart keeps the inventory it had."""
    statement = upsert_insert(connection)(otc).values(
        id=pool_id,
        base_mint=base_mint,
        quote_mint=quote_mint,
        base_inventory=start.base,
        quote_inventory=start.quote,
        target_base=start.base,
        target_quote=start.quote,
        fills=0,
        last_look_rejects=0,
        enabled=True,
        updated_at=datetime.now(UTC),
    )
    connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def load_otc_pools(connection: Connection) -> dict[str, OtcBook]:
    rows = connection.execute(select(otc))
    return {
        row.id: OtcBook(
            pool_id=row.id,
            inventory=OtcInventory(base=row.base_inventory, quote=row.quote_inventory),
            target=OtcInventory(base=row.target_base, quote=row.target_quote),
            fills=row.fills,
            last_look_rejects=row.last_look_rejects,
        )
        for row in rows
    }


def seed_localdex_pool(
    connection: Connection,
    pool_id: str,
    base_mint: str,
    quote_mint: str,
    base_reserve: int,
    quote_reserve: int,
    fee_bps: int,
) -> None:
    statement = upsert_insert(connection)(amm).values(
        id=pool_id,
        base_mint=base_mint,
        quote_mint=quote_mint,
        base_reserve=base_reserve,
        quote_reserve=quote_reserve,
        fee_bps=fee_bps,
        version=0,
        enabled=True,
        updated_at=datetime.now(UTC),
    )
    connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def _reserves(row: Row[Any]) -> AmmReserves:
    return AmmReserves(
        pool_id=row.id, base=row.base_reserve, quote=row.quote_reserve, version=row.version
    )


def load_localdex_pools(connection: Connection) -> dict[str, AmmReserves]:
    return {row.id: _reserves(row) for row in connection.execute(select(amm))}


# Built once: the group commit locks the books it fills in every batch.
_LOCK_OTC = (
    select(otc.c.id, otc.c.base_inventory, otc.c.quote_inventory)
    .where(otc.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(otc.c.id)
    .with_for_update()
)
_LOCK_AMM = (
    select(amm).where(amm.c.id.in_(bindparam("ids", expanding=True))).order_by(amm.c.id)
).with_for_update()


def lock_otc_books(connection: Connection, pool_ids: Iterable[str]) -> dict[str, OtcInventory]:
    """Current inventory of these pools; on PostgreSQL the rows stay locked until commit."""
    rows = connection.execute(_LOCK_OTC, {"ids": sorted(set(pool_ids))})
    return {
        row.id: OtcInventory(base=row.base_inventory, quote=row.quote_inventory) for row in rows
    }


_SAVE_OTC = (
    update(otc)
    .where(otc.c.id == bindparam("pool_id"))
    .values(
        base_inventory=bindparam("base"),
        quote_inventory=bindparam("quote"),
        fills=otc.c.fills + bindparam("new_fills"),
        updated_at=bindparam("at"),
    )
)


def save_otc_books(
    connection: Connection,
    inventories: Mapping[str, OtcInventory],
    fills: Mapping[str, int],
) -> None:
    """Write inventories read under lock in this transaction, with their new fill counts."""
    now = datetime.now(UTC)
    rows = [
        {
            "pool_id": pool_id,
            "base": inventory.base,
            "quote": inventory.quote,
            "new_fills": fills.get(pool_id, 0),
            "at": now,
        }
        for pool_id, inventory in inventories.items()
    ]
    if rows:
        connection.execute(_SAVE_OTC, rows)


def count_otc_rejects(connection: Connection, rejects: Mapping[str, int]) -> None:
    rows = [{"pool_id": p, "n": n} for p, n in rejects.items() if n]
    if rows:
        connection.execute(
            update(otc)
            .where(otc.c.id == bindparam("pool_id"))
            .values(last_look_rejects=otc.c.last_look_rejects + bindparam("n")),
            rows,
        )


def lock_localdex_pools(connection: Connection, pool_ids: Iterable[str]) -> dict[str, AmmReserves]:
    rows = connection.execute(_LOCK_AMM, {"ids": sorted(set(pool_ids))})
    return {row.id: _reserves(row) for row in rows}


_SAVE_AMM = (
    update(amm)
    .where(amm.c.id == bindparam("pool_id"), amm.c.version == bindparam("expected_version"))
    .values(
        base_reserve=bindparam("base"),
        quote_reserve=bindparam("quote"),
        version=amm.c.version + 1,
        updated_at=bindparam("at"),
    )
)


def save_localdex_pools(
    connection: Connection, before: Mapping[str, AmmReserves], after: Mapping[str, AmmReserves]
) -> None:
    """Write reserves computed from `before` (read under lock in this transaction)."""
    now = datetime.now(UTC)
    rows = [
        {
            "pool_id": pool_id,
            "base": state.base,
            "quote": state.quote,
            "expected_version": before[pool_id].version,
            "at": now,
        }
        for pool_id, state in after.items()
    ]
    if rows:
        connection.execute(_SAVE_AMM, rows)


T = TypeVar("T")


class SqlPoolBooks:
    """The venues' books (agent.venues.PoolBooks) inside one open transaction of the store."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def seed_otc_pool(
        self, pool_id: str, base_mint: str, quote_mint: str, start: OtcInventory
    ) -> None:
        seed_otc_pool(self._connection, pool_id, base_mint, quote_mint, start)

    def load_otc_pools(self) -> dict[str, OtcBook]:
        return load_otc_pools(self._connection)

    def lock_otc_books(self, pool_ids: Iterable[str]) -> dict[str, OtcInventory]:
        return lock_otc_books(self._connection, pool_ids)

    def save_otc_books(self, after: Mapping[str, OtcInventory], fills: Mapping[str, int]) -> None:
        save_otc_books(self._connection, after, fills)

    def count_otc_rejects(self, rejects: Mapping[str, int]) -> None:
        count_otc_rejects(self._connection, rejects)

    def seed_localdex_pool(
        self, pool_id: str, base_mint: str, quote_mint: str, base: int, quote: int, fee_bps: int
    ) -> None:
        seed_localdex_pool(self._connection, pool_id, base_mint, quote_mint, base, quote, fee_bps)

    def load_localdex_pools(self) -> dict[str, AmmReserves]:
        return load_localdex_pools(self._connection)

    def lock_localdex_pools(self, pool_ids: Iterable[str]) -> dict[str, AmmReserves]:
        return lock_localdex_pools(self._connection, pool_ids)

    def save_localdex_pools(
        self, before: Mapping[str, AmmReserves], after: Mapping[str, AmmReserves]
    ) -> None:
        save_localdex_pools(self._connection, before, after)


class PoolBookKeeper:
    """The venues' books in SQL (agent.venues.BookKeeper): each call is one transaction of the
    store, run on its thread."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    async def write(self, work: Callable[..., T], *args: Any) -> T:
        return await self._store.write(_on_books, work, *args)

    async def read(self, work: Callable[..., T], *args: Any) -> T:
        return await self._store.read(_on_books, work, *args)


def _on_books(connection: Connection, work: Callable[..., T], *args: Any) -> T:
    return work(SqlPoolBooks(connection), *args)
