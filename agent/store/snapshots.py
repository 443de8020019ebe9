"""Periodic snapshots: prices the agent used and its own counters, kept beyond Prometheus retention."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, insert, select

from agent.store.models import PriceSnapshotRow, SystemMetricRow

__all__ = ["latest_prices", "record_prices", "record_snapshot", "record_system_metrics"]

prices = PriceSnapshotRow.__table__
system = SystemMetricRow.__table__


def record_prices(connection: Connection, points: Iterable[tuple[str, Decimal, str]]) -> None:
    now = datetime.now(UTC)
    rows = [{"symbol": s, "usd": usd, "source": src, "observed_at": now} for s, usd, src in points]
    if rows:
        connection.execute(insert(prices), rows)


def record_system_metrics(connection: Connection, values: Mapping[str, Decimal]) -> None:
    now = datetime.now(UTC)
    rows = [{"name": name, "value": value, "at": now} for name, value in values.items()]
    if rows:
        connection.execute(insert(system), rows)


def latest_prices(connection: Connection) -> dict[str, dict[str, str]]:
    """The most recent snapshot per token: {symbol: {usd, source, observed_at}}."""
    newest = (
        select(prices.c.symbol, func.max(prices.c.id).label("id"))
        .group_by(prices.c.symbol)
        .subquery()
    )
    rows = connection.execute(select(prices).join(newest, prices.c.id == newest.c.id))
    return {
        row.symbol: {
            "usd": str(row.usd),
            "source": row.source,
            "observed_at": row.observed_at.isoformat(timespec="seconds"),
        }
        for row in rows
    }


def record_snapshot(
    connection: Connection,
    points: Iterable[tuple[str, Decimal, str]],
    values: Mapping[str, Decimal],
) -> None:
    record_prices(connection, points)
    record_system_metrics(connection, values)
