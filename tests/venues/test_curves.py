"""Venue curves for split routing agree with the venues' own quotes at every size."""

from __future__ import annotations

import pytest

from agent.config import AgentConfig
from agent.domain.quotes import Quote
from agent.domain.tokens import TokenRegistry
from agent.store.database import Store
from tests.support.venues import quote_request
from tests.venues import test_localdex, test_otc

NOW = 1_750_000_000.0
SIZES = [10**9, 50 * 10**9, 700 * 10**9, 2_400 * 10**9]


async def _quote(venue, request) -> Quote | None:  # type: ignore[no-untyped-def]
    answers = [a for a in await venue.quote(request, NOW) if isinstance(a, Quote)]
    return answers[0] if answers else None


@pytest.mark.parametrize(("sell", "buy"), [("SOL", "USDC"), ("USDC", "SOL")])
async def test_otc_curve_is_the_firm_quote_at_every_size(
    config: AgentConfig, tokens: TokenRegistry, store: Store, sell: str, buy: str
) -> None:
    """An OTC pool's curve gives exactly what it would quote at that size, and refuses what it would."""
    venue = await test_otc.started(config, tokens, store)
    request = quote_request(tokens, sell, buy, 5_000 * 10**9 if sell == "SOL" else 10**12)
    curves = [c for c in await venue.curves(request, [], NOW) if c.source == "otc-sol-usdc"]
    (curve,) = curves
    sizes = SIZES if sell == "SOL" else [s // 1_000 * 150 for s in SIZES]
    for size in sizes:
        quote = await _quote(venue, quote_request(tokens, sell, buy, size))
        expected = None if quote is None else (quote.expected_out, quote.guaranteed_out)
        assert curve.outputs(size) == expected, size
    assert curve.max_in <= request.amount and curve.min_in >= 1


async def test_otc_curve_stops_where_the_pool_cannot_pay(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """The inventory of the paying side caps the curve: sizes it cannot pay are refused or excluded."""
    venue = await test_otc.started(config, tokens, store)
    request = quote_request(tokens, "USDC", "SOL", 10**13)  # $10M: more than the pool's SOL
    (curve,) = [c for c in await venue.curves(request, [], NOW) if c.source == "otc-sol-usdc"]
    assert curve.max_in < request.amount
    assert curve.outputs(curve.max_in) is None or curve.outputs(curve.max_in)[0] <= 5_000 * 10**9  # type: ignore[index]


async def test_localdex_curve_is_the_pool_at_every_size(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A local DEX pool's curve is its constant-product output; guaranteed equals expected."""
    venue = await test_localdex.started(config, tokens, store)
    request = quote_request(tokens, "SOL", "USDC", 3_000 * 10**9)
    (curve,) = [c for c in await venue.curves(request, [], NOW) if c.source == "amm-sol-usdc"]
    for size in SIZES:
        quote = await _quote(venue, quote_request(tokens, "SOL", "USDC", size))
        assert quote is not None and curve.outputs(size) == (quote.expected_out, quote.expected_out)
