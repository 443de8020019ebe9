"""Opt-in (--live): the real Jupiter API answers a SOL→USDC quote in the documented shape."""

from __future__ import annotations

import os

import httpx
import pytest

from agent.venues.jupiter import DEFAULT_BASE_URL, CircuitBreaker, JupiterClient, TokenBucket
from tests.support.fake_jupiter import SOL, USDC


@pytest.mark.live
async def test_live_quote_sol_usdc() -> None:
    """A keyless (or $JUPITER_API_KEY) quote of 0.1 SOL → USDC parses with a sane price."""
    api_key = os.environ.get("JUPITER_API_KEY", "")
    async with httpx.AsyncClient(timeout=15.0) as http:
        client = JupiterClient(
            DEFAULT_BASE_URL, http=http, api_key=api_key,
            limiter=TokenBucket(1.0 if api_key else 0.5), breaker=CircuitBreaker(),
        )  # fmt: skip
        quote = await client.quote(SOL, USDC, 100_000_000, 50, max_wait_s=5.0)
    assert quote.input_mint == SOL and quote.output_mint == USDC and quote.in_amount == 100_000_000
    assert 1_000_000 < quote.out_amount < 100_000_000  # 0.1 SOL is worth $1..$100
    assert quote.other_amount_threshold <= quote.out_amount and quote.route_plan
