"""The price oracle the agent asks for USD prices, and its last-resort static source.

Venues and policy checks call :meth:`PriceOracle.price`; it answers from what the oracle
already knows and never waits on a network fetch for long. The implementation is
agent.pricing.failover.FailoverOracle, whose last resort is the static prices in tokens.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from agent.domain.tokens import Token

__all__ = ["PriceOracle", "PricePoint", "PriceUnavailable"]


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
