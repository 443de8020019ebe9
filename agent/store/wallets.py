"""Wallet registry and per-day notional usage, kept in SQL so changes need no restart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from agent.domain.policy import WalletPolicy
from agent.store.dialects import UPSERT_INSERTS, UpsertInsert, upsert_insert
from agent.store.models import WalletRow, WalletUsageRow

__all__ = ["ensure_usage_rows", "list_wallets", "lock_usage", "save_usage", "upsert_wallet"]

wallets = WalletRow.__table__
usage = WalletUsageRow.__table__


# Built once per dialect: the group commit runs these for every batch.
_ENSURE_USAGE = {
    dialect: insert(usage).on_conflict_do_nothing(index_elements=["wallet", "day"])
    for dialect, insert in UPSERT_INSERTS.items()
}


def _saving_usage(insert: UpsertInsert) -> postgresql.Insert | sqlite.Insert:
    statement = insert(usage)
    return statement.on_conflict_do_update(
        index_elements=["wallet", "day"],
        set_={"used_usd_micros": statement.excluded.used_usd_micros},
    )


_SAVE_USAGE = {dialect: _saving_usage(insert) for dialect, insert in UPSERT_INSERTS.items()}
_LOCK_USAGE = (
    select(usage.c.wallet, usage.c.day, usage.c.used_usd_micros)
    .where(
        usage.c.wallet.in_(bindparam("wallets", expanding=True)),
        usage.c.day.in_(bindparam("days", expanding=True)),
    )
    .order_by(usage.c.wallet, usage.c.day)
    .with_for_update()
)


def upsert_wallet(connection: Connection, policy: WalletPolicy, source: str) -> None:
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
    statement = upsert_insert(connection)(wallets).values(created_at=now, **values)
    statement = statement.on_conflict_do_update(index_elements=["pubkey"], set_=values)
    connection.execute(statement)


def list_wallets(connection: Connection) -> list[tuple[WalletPolicy, str]]:
    """Every registered wallet with where it came from ("config" or "cli")."""
    rows = connection.execute(select(wallets).order_by(wallets.c.pubkey))
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


def ensure_usage_rows(connection: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Create missing rows first, so the lock that follows covers every key (no lost update)."""
    rows = [{"wallet": w, "day": d, "used_usd_micros": 0} for w, d in sorted(set(keys))]
    if rows:
        connection.execute(_ENSURE_USAGE[connection.dialect.name], rows)


def lock_usage(
    connection: Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Micro-dollars used per (wallet, UTC day); rows stay locked until commit on PostgreSQL."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = connection.execute(
        _LOCK_USAGE,
        {"wallets": sorted({w for w, _ in wanted}), "days": sorted({d for _, d in wanted})},
    )
    found = {(row.wallet, row.day): row.used_usd_micros for row in rows}  # extra pairs ignored
    return {key: found.get(key, 0) for key in wanted}


def save_usage(connection: Connection, used: Mapping[tuple[str, str], int]) -> None:
    """Write usage computed from :func:`lock_usage` in this transaction."""
    rows = [{"wallet": w, "day": d, "used_usd_micros": n} for (w, d), n in used.items()]
    if rows:
        connection.execute(_SAVE_USAGE[connection.dialect.name], rows)
