"""The failover oracle's values: the prices it serves, its cache entries and its snapshot.

An :class:`OraclePrice` is the :class:`~agent.domain.prices.PricePoint` the oracle answers
with, carrying its flags; a :class:`Disagreement` records two sources too far apart. An
:class:`OracleSnapshot` is the read-only state metrics and the CLI show: per token the active
source and age (:class:`TokenState`), per source its health (:class:`SourceState`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agent.domain.prices import PricePoint

__all__ = [
    "CachedPrice",
    "Disagreement",
    "OraclePrice",
    "OracleSnapshot",
    "SourceState",
    "TokenState",
]


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Two sources priced a token further apart than the tolerance; the primary was served."""

    symbol: str
    primary_source: str
    primary_usd: Decimal
    other_source: str
    other_usd: Decimal
    spread: Decimal  # |other - primary| / primary
    detected_at: float


@dataclass(frozen=True, slots=True)
class CachedPrice:
    symbol: str
    usd: Decimal
    source: str
    fetched_at: float
    observed_at: float | None = None
    change_24h: Decimal | None = None
    quote: str = "USD"
    disagreement: Disagreement | None = None


@dataclass(frozen=True, slots=True)
class OraclePrice(PricePoint):
    """A PricePoint with the oracle's flags; callers of the plain protocol see a PricePoint.

    ``stale`` means older than the cache TTL; ``quote`` "USDT" means the price is in USDT
    because no USD price of USDT was known; ``disagreement`` is set when a second source
    differed by more than the tolerance.
    """

    fetched_at: float = 0.0
    stale: bool = False
    quote: str = "USD"
    change_24h: Decimal | None = None
    disagreement: Disagreement | None = None


@dataclass(frozen=True, slots=True)
class TokenState:
    symbol: str
    source: str | None  # None: nothing cached
    usd: Decimal | None
    age_s: float | None
    stale: bool
    quote: str | None
    disagreement: Disagreement | None


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    status: str  # "up" | "backing_off" | "open" | "half_open" | "disabled"
    consecutive_failures: int
    failures: Mapping[str, int]  # by reason: rate_limited, unavailable, bad_payload, ...
    retry_in_s: float | None  # None: may be asked now; inf: disabled for good
    last_success_at: float | None
    last_error: str | None
    unknown_instruments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OracleSnapshot:
    """Read-only state for metrics and the CLI."""

    tokens: Mapping[str, TokenState]
    sources: Mapping[str, SourceState]
    cache_hits: int
    cache_misses: int
    refreshes: int
    last_refresh_at: float | None
