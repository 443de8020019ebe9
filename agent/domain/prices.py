"""What the agent asks of a price oracle: a token's USD price, with its source and age.

Venues and policy checks call :meth:`PriceOracle.price`; it answers from what the oracle
already knows and never waits on a network fetch for long. The protocol lives in the domain
so that venues and pricing never import each other; the implementation is
agent.pricing.FailoverOracle, whose last resort is the static prices in tokens.toml.
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
