"""A scripted price source and the oracle settings the failover and health tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from agent.domain.tokens import Token
from agent.pricing.errors import PriceSourceError
from agent.pricing.failover import FailoverSettings
from agent.pricing.health import SourceBackoff
from agent.pricing.parsers import Observation

NO_JITTER = SourceBackoff(initial_delay_s=30, max_delay_s=1800, multiplier=2, jitter=0)
SINGLE = FailoverSettings(cross_check=False)
PRICES = {"SOL": Decimal("147.2"), "USDC": Decimal("0.9999"), "USDT": Decimal("1.0002")}


class ScriptedSource:
    """A source double: fixed prices, or a fixed error, recording what it was asked."""

    def __init__(
        self,
        name: str,
        prices: dict[str, Decimal] | None = None,
        *,
        error: PriceSourceError | Exception | None = None,
        quote: str = "USD",
        observed_at: float | None = None,
        delay: float = 0.0,
    ) -> None:
        self.name = name
        self.prices = prices if prices is not None else {}
        self.error = error
        self.quote = quote
        self.observed_at = observed_at
        self.delay = delay
        self.calls: list[list[str]] = []

    def supports(self, token: Token) -> bool:
        return True

    async def fetch(self, tokens: Sequence[Token]) -> dict[str, Observation]:
        self.calls.append([t.symbol for t in tokens])
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return {
            t.symbol: Observation(self.prices[t.symbol], None, self.observed_at, self.quote)
            for t in tokens
            if t.symbol in self.prices
        }
