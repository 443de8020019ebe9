"""Opt-in (--live): the real Jupiter API answers in the documented shape, and its swap passes
every check before signing."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from solders.hash import Hash
from solders.keypair import Keypair

from agent.domain.quotes import Quote, QuoteRequest
from agent.net import CircuitBreaker, TokenBucket
from agent.venues.jupiter import DEFAULT_BASE_URL, JupiterClient
from agent.venues.jupiter.venue import JupiterVenue, SwapOrder, SwapSettings
from onchain.cluster import Blockhash
from onchain.rpc_cluster import RpcCluster
from tests.support.fake_jupiter import SOL, USDC

MAINNET_RPC = "https://api.mainnet-beta.solana.com"


def _client(http: httpx.AsyncClient) -> JupiterClient:
    api_key = os.environ.get("JUPITER_API_KEY", "")
    return JupiterClient(
        DEFAULT_BASE_URL, http=http, api_key=api_key,
        limiter=TokenBucket(1.0 if api_key else 0.5), breaker=CircuitBreaker(),
    )  # fmt: skip


@pytest.mark.live
async def test_live_quote_sol_usdc() -> None:
    """A keyless (or $JUPITER_API_KEY) quote of 0.1 SOL → USDC parses with a sane price."""
    async with httpx.AsyncClient(timeout=15.0) as http:
        quote = await _client(http).quote(SOL, USDC, 100_000_000, 50, max_wait_s=5.0)
    assert quote.input_mint == SOL and quote.output_mint == USDC and quote.in_amount == 100_000_000
    assert 1_000_000 < quote.out_amount < 100_000_000  # 0.1 SOL is worth $1..$100
    assert quote.other_amount_threshold <= quote.out_amount and quote.route_plan


@pytest.mark.live
async def test_live_swap_passes_verification() -> None:
    """The real /swap-instructions for 0.1 SOL → USDC decodes with the IDL and passes every check."""
    wallet = str(Keypair().pubkey())
    async with httpx.AsyncClient(timeout=15.0) as http:
        rpc = RpcCluster(MAINNET_RPC, name="mainnet-beta", client=http)
        venue = JupiterVenue(_client(http), SwapSettings(max_budget_wait_s=5.0), lookup_cluster=rpc)
        request = QuoteRequest(
            SOL, USDC, 100_000_000, 0, 50, taker=wallet, not_after=time.time() + 60
        )
        (quote,) = await venue.quote(request, time.time())
        assert isinstance(quote, Quote), quote
        order = SwapOrder(wallet, SOL, USDC, quote.amount_in, quote.guaranteed_out, 50)
        built = await venue.build_swap(quote, order, Blockhash(Hash.default(), 0))
    assert str(built.message.account_keys[0]) == wallet
    assert built.verified.swap.in_amount == 100_000_000 and built.size <= 1_232
