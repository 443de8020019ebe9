"""Wallet registry and per-day notional usage, kept in SQL so changes need no restart."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.policy import WalletPolicy, micros
from agent.store.models import WalletRow, WalletUsageRow

__all__ = ["list_wallets", "release_usage", "reserve_usage", "upsert_wallet"]

wallets = WalletRow.__table__
usage = WalletUsageRow.__table__


def _insert(connection: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


async def upsert_wallet(connection: AsyncConnection, policy: WalletPolicy, *, source: str) -> None:
    now = datetime.now(UTC)
    values = {
        "pubkey": policy.pubkey,
        "keypair_path": policy.keypair_path,
        "max_notional_usd": policy.max_notional_usd,
        "daily_notional_usd": policy.daily_notional_usd,
        "pairs": ",".join(sorted(policy.pairs)),
        "source": source,
        "updated_at": now,
    }
    statement = _insert(connection)(wallets).values(created_at=now, **values)
    statement = statement.on_conflict_do_update(index_elements=["pubkey"], set_=values)
    await connection.execute(statement)


async def list_wallets(connection: AsyncConnection) -> list[tuple[WalletPolicy, str]]:
    """Every registered wallet with where it came from ("config" or "cli")."""
    rows = await connection.execute(select(wallets).order_by(wallets.c.pubkey))
    return [
        (
            WalletPolicy(
                pubkey=row.pubkey,
                max_notional_usd=Decimal(row.max_notional_usd),
                daily_notional_usd=Decimal(row.daily_notional_usd),
                pairs=frozenset(p for p in row.pairs.split(",") if p),
                keypair_path=row.keypair_path,
            ),
            row.source,
        )
        for row in rows
    ]


async def reserve_usage(
    connection: AsyncConnection, wallet: str, day: str, amount_micros: int, limit_usd: Decimal
) -> bool:
    """Add to the wallet's usage for `day` only if the daily limit still holds: one atomic step."""
    limit = micros(limit_usd)
    if amount_micros > limit:
        return False
    insert = _insert(connection)(usage).values(wallet=wallet, day=day, used_usd_micros=0)
    await connection.execute(insert.on_conflict_do_nothing(index_elements=["wallet", "day"]))
    result = await connection.execute(
        update(usage)
        .where(
            usage.c.wallet == wallet,
            usage.c.day == day,
            usage.c.used_usd_micros + amount_micros <= limit,
        )
        .values(used_usd_micros=usage.c.used_usd_micros + amount_micros)
    )
    return result.rowcount == 1


async def release_usage(
    connection: AsyncConnection, wallet: str, day: str, amount_micros: int
) -> None:
    """Give back usage that an intent reserved but did not trade."""
    await connection.execute(
        update(usage)
        .where(usage.c.wallet == wallet, usage.c.day == day)
        .values(used_usd_micros=usage.c.used_usd_micros - amount_micros)
    )
