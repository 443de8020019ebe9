"""Helpers for venue tests: a quote request by symbol, and an oracle with the static prices."""

from __future__ import annotations

from agent.domain.quotes import QuoteRequest
from agent.domain.tokens import TokenRegistry
from agent.pricing.failover import FailoverOracle


def quote_request(
    tokens: TokenRegistry,
    sell: str,
    buy: str,
    amount: int,
    min_out: int = 0,
    slippage_bps: int = 50,
) -> QuoteRequest:
    return QuoteRequest(
        tokens.require(sell).mint, tokens.require(buy).mint, amount, min_out, slippage_bps
    )


def static_oracle(tokens: TokenRegistry) -> FailoverOracle:
    """The production oracle with no network source: static prices from tokens.toml."""
    return FailoverOracle([], list(tokens))
