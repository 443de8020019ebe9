"""The price oracle the agent asks for USD prices, and its last-resort static source.

Venues and policy checks call :meth:`PriceOracle.price`; it answers from what the oracle
already knows and never waits on a network fetch for long. The static oracle answers from
configs/tokens.toml; the multi-source oracle with failover builds on the same interface.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from agent.domain.tokens import Token

__all__ = ["PriceOracle", "PricePoint", "PriceUnavailable", "StaticPriceOracle"]


@dataclass(frozen=True, slots=True)
class PricePoint:
    symbol: str
    usd: Decimal
    source: str  # "coingecko" | "kraken" | "binance" | "jupiter" | "pyth" | "static"
    observed_at: float


class PriceUnavailable(Exception):
    """No source, not even the static fallback, has a price for this token."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        super().__init__(f"no price available for {symbol}")


class PriceOracle(Protocol):
    async def price(self, token: Token) -> PricePoint: ...


class StaticPriceOracle:
    """Prices fixed in configuration: the offline default and the oracle's last resort."""

    def __init__(self, tokens: list[Token] | tuple[Token, ...]) -> None:
        self._started = time.time()
        self._prices = {t.symbol: t.static_usd for t in tokens if t.static_usd > 0}

    async def price(self, token: Token) -> PricePoint:
        usd = self._prices.get(token.symbol)
        if usd is None:
            raise PriceUnavailable(token.symbol)
        return PricePoint(token.symbol, usd, "static", self._started)
