"""OTC inventory and local-DEX reserves: the shared books every fill must move atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.otc_pricing import OtcInventory, Side
from agent.store.models import LocalDexPoolRow, OtcPoolRow

__all__ = [
    "AmmReserves",
    "OtcBook",
    "count_last_look_reject",
    "load_localdex_pools",
    "load_otc_pools",
    "lock_localdex",
    "seed_localdex_pool",
    "seed_otc_pool",
    "set_otc_inventory",
    "take_otc_fill",
    "update_localdex",
]

otc = OtcPoolRow.__table__
amm = LocalDexPoolRow.__table__


@dataclass(frozen=True, slots=True)
class OtcBook:
    pool_id: str
    inventory: OtcInventory
    target: OtcInventory
    fills: int
    last_look_rejects: int


@dataclass(frozen=True, slots=True)
class AmmReserves:
    pool_id: str
    base: int
    quote: int
    version: int


def _insert(connection: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


async def seed_otc_pool(
    connection: AsyncConnection, pool_id: str, base_mint: str, quote_mint: str, start: OtcInventory
) -> None:
    """Create the pool's book on first start; a restart keeps the inventory it had."""
    statement = _insert(connection)(otc).values(
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
    await connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


async def load_otc_pools(connection: AsyncConnection) -> dict[str, OtcBook]:
    rows = await connection.execute(select(otc))
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


async def take_otc_fill(
    connection: AsyncConnection, pool_id: str, side: Side, amount_in: int, amount_out: int
) -> OtcInventory | None:
    """Move the pool's inventory for a fill, only if the paying side still holds enough.

    The taker's tokens land on the side the pool receives; the pool pays out of the other.
    Returns the new inventory, or None when the inventory is no longer there.
    """
    if side is Side.SELL_BASE:
        received, paid = otc.c.base_inventory, otc.c.quote_inventory
    else:
        received, paid = otc.c.quote_inventory, otc.c.base_inventory
    result = await connection.execute(
        update(otc)
        .where(otc.c.id == pool_id, paid >= amount_out)
        .values(
            {
                received: received + amount_in,
                paid: paid - amount_out,
                otc.c.fills: otc.c.fills + 1,
                otc.c.updated_at: datetime.now(UTC),
            }
        )
        .returning(otc.c.base_inventory, otc.c.quote_inventory)
    )
    row = result.first()
    return None if row is None else OtcInventory(base=row[0], quote=row[1])


async def count_last_look_reject(connection: AsyncConnection, pool_id: str) -> None:
    await connection.execute(
        update(otc).where(otc.c.id == pool_id).values(last_look_rejects=otc.c.last_look_rejects + 1)
    )


async def set_otc_inventory(
    connection: AsyncConnection, pool_id: str, expected: OtcInventory, new: OtcInventory
) -> bool:
    """Compare-and-set, so a replenishment never overwrites a fill that raced it."""
    result = await connection.execute(
        update(otc)
        .where(
            otc.c.id == pool_id,
            otc.c.base_inventory == expected.base,
            otc.c.quote_inventory == expected.quote,
        )
        .values(base_inventory=new.base, quote_inventory=new.quote, updated_at=datetime.now(UTC))
    )
    return result.rowcount == 1


async def seed_localdex_pool(
    connection: AsyncConnection,
    pool_id: str,
    base_mint: str,
    quote_mint: str,
    base_reserve: int,
    quote_reserve: int,
    fee_bps: int,
) -> None:
    statement = _insert(connection)(amm).values(
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
    await connection.execute(statement.on_conflict_do_nothing(index_elements=["id"]))


def _reserves(row: object) -> AmmReserves:
    return AmmReserves(
        pool_id=row.id,  # type: ignore[attr-defined]
        base=row.base_reserve,  # type: ignore[attr-defined]
        quote=row.quote_reserve,  # type: ignore[attr-defined]
        version=row.version,  # type: ignore[attr-defined]
    )


async def load_localdex_pools(connection: AsyncConnection) -> dict[str, AmmReserves]:
    return {row.id: _reserves(row) for row in await connection.execute(select(amm))}


async def lock_localdex(connection: AsyncConnection, pool_id: str) -> AmmReserves:
    """Read the reserves for a fill; on PostgreSQL the row stays locked until commit."""
    row = (await connection.execute(select(amm).where(amm.c.id == pool_id).with_for_update())).one()
    return _reserves(row)


async def update_localdex(
    connection: AsyncConnection, pool_id: str, base: int, quote: int, version: int
) -> bool:
    result = await connection.execute(
        update(amm)
        .where(amm.c.id == pool_id, amm.c.version == version)
        .values(
            base_reserve=base,
            quote_reserve=quote,
            version=version + 1,
            updated_at=datetime.now(UTC),
        )
    )
    return result.rowcount == 1
