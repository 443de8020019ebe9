"""Periodic snapshots: prices the agent used and its own counters, kept beyond Prometheus retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.store.models import PriceSnapshotRow, SystemMetricRow

__all__ = ["latest_prices", "record_prices", "record_system_metrics"]

prices = PriceSnapshotRow.__table__
system = SystemMetricRow.__table__


async def record_prices(
    connection: AsyncConnection, points: Iterable[tuple[str, Decimal, str]]
) -> None:
    now = datetime.now(UTC)
    rows = [{"symbol": s, "usd": usd, "source": src, "observed_at": now} for s, usd, src in points]
    if rows:
        await connection.execute(insert(prices), rows)


async def record_system_metrics(connection: AsyncConnection, values: Mapping[str, Decimal]) -> None:
    now = datetime.now(UTC)
    rows = [{"name": name, "value": value, "at": now} for name, value in values.items()]
    if rows:
        await connection.execute(insert(system), rows)


async def latest_prices(connection: AsyncConnection) -> dict[str, dict[str, str]]:
    """The most recent snapshot per token: {symbol: {usd, source, observed_at}}."""
    newest = (
        select(prices.c.symbol, func.max(prices.c.id).label("id"))
        .group_by(prices.c.symbol)
        .subquery()
    )
    rows = await connection.execute(select(prices).join(newest, prices.c.id == newest.c.id))
    return {
        row.symbol: {
            "usd": str(row.usd),
            "source": row.source,
            "observed_at": row.observed_at.isoformat(timespec="seconds"),
        }
        for row in rows
    }
