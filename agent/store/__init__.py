"""The SQL store: the database handle, the typed models (one ``*Row`` per table), and the
repositories over them; the schema ships as Alembic migrations (:mod:`agent.store.migrate`).

:class:`Store` runs units of work in transactions on its threads (:class:`StoreUnavailable` while
the database is away). :class:`SqlPoolBooks` and :class:`PoolBookKeeper` implement the venues'
books, :class:`WalletRegistry` serves wallet policies; other repositories are used by module.
"""

from agent.store.database import Store, StoreUnavailable
from agent.store.intents import SubmissionRecord, slippage_bps, submissions_for
from agent.store.models import (
    IntentRow,
    LocalDexPoolRow,
    OtcPoolRow,
    PriceSnapshotRow,
    QuoteRow,
    RouteLegRow,
    RouteRow,
    SubmissionRow,
    SystemMetricRow,
    TradeRow,
    WalletRow,
    WalletUsageRow,
)
from agent.store.pools import PoolBookKeeper, SqlPoolBooks
from agent.store.snapshots import latest_prices
from agent.store.wallet_registry import WalletRegistry

__all__ = [
    "IntentRow",
    "LocalDexPoolRow",
    "OtcPoolRow",
    "PoolBookKeeper",
    "PriceSnapshotRow",
    "QuoteRow",
    "RouteLegRow",
    "RouteRow",
    "SqlPoolBooks",
    "Store",
    "StoreUnavailable",
    "SubmissionRecord",
    "SubmissionRow",
    "SystemMetricRow",
    "TradeRow",
    "WalletRegistry",
    "WalletRow",
    "WalletUsageRow",
    "latest_prices",
    "slippage_bps",
    "submissions_for",
]
