"""SQL schema as SQLAlchemy 2 typed models. Amounts are exact integers in base units.

Amount columns are BIGINT: every supported database stores signed 64-bit integers exactly,
and the agent rejects amounts above 2**63 - 1 at intake. USD values are integer micro-dollars.
Ratios (bps, prices) use :class:`ExactDecimal`, which never passes through a binary float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "Base",
    "ExactDecimal",
    "IntentEventRow",
    "IntentRow",
    "LocalDexPoolRow",
    "OtcPoolRow",
    "PriceSnapshotRow",
    "QuoteRow",
    "RouteLegRow",
    "RouteRow",
    "SubmissionRow",
    "SystemMetricRow",
    "TradeRow",
    "UtcDateTime",
    "WalletRow",
    "WalletUsageRow",
]

# ExactDecimal columns: NUMERIC(PRECISION, SCALE) on every backend.
PRECISION = 38
SCALE = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)
# Wide enough for any NUMERIC(38, 18) value and for rounding a longer one to it.
_CTX = Context(prec=2 * PRECISION, rounding=ROUND_HALF_EVEN)


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(38, 18) on PostgreSQL; text on SQLite, whose NUMERIC would round through a float.

    Both backends keep the same value: a bound Decimal is rounded (half-even) to the column's
    18 decimal places here, not by the database, and one that does not fit 38 digits, or is
    not finite, is refused. What fits comes back exactly, whatever the backend.
    """

    impl = Numeric(PRECISION, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(PRECISION, SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        fitted = _fit(Decimal(value))
        if dialect.name == "sqlite":
            return format(fitted, "f")
        return fitted

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return _tidy(Decimal(str(value)))


def _fit(value: Decimal) -> Decimal:
    """Round to the column's scale; refuse what NUMERIC(38, 18) cannot hold."""
    if not value.is_finite():
        raise ValueError(f"{value} cannot be stored in an exact decimal column")
    if value.is_zero():
        # A zero's exponent is no size: 0E+20 (a difference of equal amounts scaled up) is 0.
        return Decimal(0)
    limit = PRECISION - SCALE
    # Checked before rounding too, so quantize never needs more digits than _CTX has.
    if value.adjusted() >= limit or value.quantize(_QUANTUM, context=_CTX).adjusted() >= limit:
        raise ValueError(f"{value} has more than {limit} integer digits")
    return value.quantize(_QUANTUM, context=_CTX)


def _tidy(value: Decimal) -> Decimal:
    """Drop NUMERIC's trailing zeros without turning 10 into 1E+1."""
    # The default context (28 digits) would round a 38-digit value here.
    normal = value.normalize(_CTX)
    exponent = normal.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or an infinity, which _fit never writes
        raise TypeError(f"{value} is not a finite decimal")
    if exponent > 0:
        return normal.quantize(Decimal(1), context=_CTX)
    return normal


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC-aware in Python whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        # SQLite keeps the wall-clock digits and drops the offset, so store UTC's digits.
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    if TYPE_CHECKING:
        # SQLAlchemy types this as any FromClause; every model here maps a plain Table.
        __table__: ClassVar[Table]


def _now() -> datetime:
    return datetime.now(UTC)


class WalletRow(Base):
    __tablename__ = "wallets"
    pubkey: Mapped[str] = mapped_column(String(44), primary_key=True)
    keypair_path: Mapped[str] = mapped_column(Text, default="")
    max_notional_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    daily_notional_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    pairs: Mapped[str] = mapped_column(Text, default="")  # comma-separated; empty = all
    source: Mapped[str] = mapped_column(String(16), default="cli")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class WalletUsageRow(Base):
    __tablename__ = "wallet_usage"
    __table_args__ = (CheckConstraint("used_usd_micros >= 0", name="ck_wallet_usage_used"),)
    wallet: Mapped[str] = mapped_column(String(44), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC date, YYYY-MM-DD
    used_usd_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class SubmissionRow(Base):
    """Everything received, valid or not: one row per file or stream entry."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("source", "ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # "directory" | "redis"
    ref: Mapped[str] = mapped_column(String(128))  # claim id or stream entry id
    name: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    intent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # The result document as written to out/, so a resumed run rewrites it byte for byte.
    result: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class IntentRow(Base):
    """A verified intent: its id and (wallet, nonce) are consumed for good once it is here."""

    __tablename__ = "intents"
    __table_args__ = (
        UniqueConstraint("wallet", "nonce"),
        UniqueConstraint("submission_source", "submission_ref"),
        Index("ix_intents_status_created", "status", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(44))
    nonce: Mapped[int] = mapped_column(BigInteger)
    cluster: Mapped[str] = mapped_column(String(16))
    sell_mint: Mapped[str] = mapped_column(String(44))
    buy_mint: Mapped[str] = mapped_column(String(44))
    pair: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    min_out: Mapped[int] = mapped_column(BigInteger)
    slippage_bps: Mapped[int] = mapped_column(Integer)
    not_after: Mapped[int] = mapped_column(BigInteger)
    venues: Mapped[str] = mapped_column(String(64), default="")
    notional_usd_micros: Mapped[int] = mapped_column(BigInteger)
    usage_day: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    amount_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    submission_source: Mapped[str] = mapped_column(String(16))
    submission_ref: Mapped[str] = mapped_column(String(128))
    # "<host>/<owner>": the replica that reserved the fill; while it lives, no other replica
    # settles the intent at its own start (it may be sending the transaction right now).
    replica: Mapped[str | None] = mapped_column(String(96), nullable=True)
    # What was received, kept with the reservation: a fill settled after a crash is recorded
    # under the file name, digest and arrival time it came with (null before migration 0004).
    # The pair's mid when the intent was read, in bought-token base units per sold-token base
    # unit, its sources and its age (migration 0006): what execution is measured against.
    arrival_mid: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    arrival_price_source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    arrival_price_age_s: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    submission_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    submission_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class IntentEventRow(Base):
    """Every state transition of an intent, in order."""

    __tablename__ = "intent_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("intents.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class QuoteRow(Base):
    """Every venue asked about an intent: a quote with its verdict, or why there was none."""

    __tablename__ = "quotes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("intents.id"), index=True)
    venue: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    amount_in: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expected_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    guaranteed_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    network_cost_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    net_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fee_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    price_impact_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    firm: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    price_source: Mapped[str] = mapped_column(String(32), default="")
    quoted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RouteRow(Base):
    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("intents.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "single" | "split"
    venues: Mapped[str] = mapped_column(String(64))
    expected_out: Mapped[int] = mapped_column(BigInteger)
    guaranteed_out: Mapped[int] = mapped_column(BigInteger)
    net_out: Mapped[int] = mapped_column(BigInteger)
    runner_up_net_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    savings_vs_runner_up_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    # None where no single venue could fill the whole amount (only a split could).
    savings_vs_best_single_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    savings_vs_jupiter_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    # Net output above the best single venue's, valued at the oracle price, in micro-dollars.
    savings_usd_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Implementation shortfall of a filled intent against its arrival mid, in bps of the arrival
    # value, and its parts (migration 0007); slippage None: firm fills delivered as quoted, or
    # paper mode; costs None: no fee was measured (paper mode).
    arrival_out: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    shortfall_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    spread_impact_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    delay_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    slippage_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    costs_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    # How many candidate allocations (venue subsets and their fills) the solver evaluated.
    allocations_considered: Mapped[int] = mapped_column(Integer, default=0)
    decision_latency_s: Mapped[Decimal] = mapped_column(ExactDecimal)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class RouteLegRow(Base):
    __tablename__ = "route_legs"
    __table_args__ = (UniqueConstraint("intent_id", "leg_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("routes.intent_id"), index=True)
    leg_index: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    amount_in: Mapped[int] = mapped_column(BigInteger)
    expected_out: Mapped[int] = mapped_column(BigInteger)
    guaranteed_out: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # "filled" | "failed" | "executing"
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    realised_out: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    realised_slippage_bps: Mapped[Decimal | None] = mapped_column(ExactDecimal, nullable=True)
    # A firm quote's fill: no slippage is measured against it (null before migration 0005).
    firm: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # The settlement transaction (dry-run and send modes): signed bytes, and what the cluster said.
    transaction: Mapped[str | None] = mapped_column(Text, nullable=True)
    signature: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    units_consumed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fee_lamports: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The wallet's token account that receives the bought token: where output is measured.
    buy_account: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slot: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    logs: Mapped[str | None] = mapped_column(Text, nullable=True)
    quote_details: Mapped[str] = mapped_column(Text, default="{}")
    executed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class TradeRow(Base):
    """A fill that moved tokens (on paper, in a simulation or on chain)."""

    __tablename__ = "trades"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("intents.id"), index=True)
    leg_index: Mapped[int] = mapped_column(Integer)
    venue: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    wallet: Mapped[str] = mapped_column(String(44), index=True)
    sell_mint: Mapped[str] = mapped_column(String(44))
    buy_mint: Mapped[str] = mapped_column(String(44))
    amount_in: Mapped[int] = mapped_column(BigInteger)
    amount_out: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)  # bought per sold, human units
    notional_usd_micros: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(8))
    tx_signature: Mapped[str | None] = mapped_column(String(100), nullable=True)
    executed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now, index=True)


class OtcPoolRow(Base):
    """An OTC pool's live inventory: the only copy several daemons share."""

    __tablename__ = "otc_pools"
    # The last line of defence for "never sold twice": whatever a daemon computes, the database
    # refuses a book below zero (the conditional updates should never get here).
    __table_args__ = (
        CheckConstraint("base_inventory >= 0", name="ck_otc_pools_base_inventory"),
        CheckConstraint("quote_inventory >= 0", name="ck_otc_pools_quote_inventory"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_mint: Mapped[str] = mapped_column(String(44))
    quote_mint: Mapped[str] = mapped_column(String(44))
    base_inventory: Mapped[int] = mapped_column(BigInteger)
    quote_inventory: Mapped[int] = mapped_column(BigInteger)
    target_base: Mapped[int] = mapped_column(BigInteger)
    target_quote: Mapped[int] = mapped_column(BigInteger)
    fills: Mapped[int] = mapped_column(BigInteger, default=0)
    last_look_rejects: Mapped[int] = mapped_column(BigInteger, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class LocalDexPoolRow(Base):
    __tablename__ = "localdex_pools"
    __table_args__ = (
        CheckConstraint("base_reserve > 0", name="ck_localdex_pools_base_reserve"),
        CheckConstraint("quote_reserve > 0", name="ck_localdex_pools_quote_reserve"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_mint: Mapped[str] = mapped_column(String(44))
    quote_mint: Mapped[str] = mapped_column(String(44))
    base_reserve: Mapped[int] = mapped_column(BigInteger)
    quote_reserve: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class PriceSnapshotRow(Base):
    __tablename__ = "price_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(16), index=True)
    usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    source: Mapped[str] = mapped_column(String(32))
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)


class SystemMetricRow(Base):
    """Periodic snapshots of the agent's own counters, for history beyond Prometheus retention."""

    __tablename__ = "system_metrics"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[Decimal] = mapped_column(ExactDecimal)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=_now)
