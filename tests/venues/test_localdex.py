"""The local DEX built from the shipped configuration: Jupiter-like quotes, honest fills."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from agent.config import AgentConfig
from agent.domain.amm import constant_product_out, rebalance_towards, slippage_threshold
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import TokenRegistry
from agent.pricing.oracle import StaticPriceOracle
from agent.runtime import build_localdex_pools, build_tokens
from agent.store import pools as books
from agent.store.database import Store
from agent.venues.base import LegFailed
from agent.venues.localdex import QUOTE_TTL_S, LocalDexVenue

NOW = 1_750_000_000.0
SOL = 10**9
USDC = 10**6
POOL = "amm-sol-usdc"
# configs/pools.toml: 20000 SOL / 3_000_000 USDC, 5 bps fee.
RESERVES = (20_000 * SOL, 3_000_000 * USDC)
FEE_BPS = 5


@pytest.fixture(name="config")
def _config(make_config: Callable[..., AgentConfig], database_url: str) -> AgentConfig:
    """configs/local.toml pointed at this test's database."""
    return make_config(database_url=database_url)


@pytest.fixture(name="tokens")
def _tokens(config: AgentConfig) -> TokenRegistry:
    """The local cluster's tokens from the shipped configuration."""
    return build_tokens(config)


@pytest.fixture(name="store")
async def _store(config: AgentConfig) -> AsyncIterator[Store]:
    """A migrated store on the configured (fresh) database, closed after the test."""
    store = Store.from_url(config.database_url)
    try:
        await store.upgrade()
        yield store
    finally:
        await store.aclose()


def make_venue(config: AgentConfig, tokens: TokenRegistry) -> LocalDexVenue:
    return LocalDexVenue(build_localdex_pools(config, tokens), StaticPriceOracle(list(tokens)))


async def started(config: AgentConfig, tokens: TokenRegistry, store: Store) -> LocalDexVenue:
    venue = make_venue(config, tokens)
    await venue.start(store)
    return venue


def request(tokens: TokenRegistry, sell: str, buy: str, amount: int, min_out: int = 0,
            slippage_bps: int = 50) -> QuoteRequest:  # fmt: skip
    return QuoteRequest(tokens.require(sell).mint, tokens.require(buy).mint, amount, min_out,
                        slippage_bps)  # fmt: skip


async def only_quote(venue: LocalDexVenue, asked: QuoteRequest) -> Quote:
    answers = await venue.quote(asked, NOW)
    assert len(answers) == 1
    assert isinstance(answers[0], Quote), answers
    return answers[0]


async def sql_reserves(store: Store, pool_id: str = POOL) -> books.AmmReserves:
    async with store.reading() as connection:
        return (await books.load_localdex_pools(connection))[pool_id]


def _swap(sell: str, amount: int) -> int:
    reserve_in, reserve_out = RESERVES if sell == "SOL" else RESERVES[::-1]
    return constant_product_out(reserve_in, reserve_out, amount, FEE_BPS).expected_out


SELL_SOL = _swap("SOL", 10 * SOL)
SELL_USDC = _swap("USDC", 1_500 * USDC)

# (sell, buy, amount, min_out, slippage_bps, the threshold the quote must carry)
THRESHOLDS = [
    ("SOL", "USDC", 10 * SOL, 0, 50, slippage_threshold(SELL_SOL, 50)),
    ("SOL", "USDC", 10 * SOL, SELL_SOL - 1_000, 50, SELL_SOL - 1_000),  # min_out binds
    ("SOL", "USDC", 10 * SOL, SELL_SOL, 50, SELL_SOL),  # min_out equal to expected
    ("SOL", "USDC", 10 * SOL, SELL_SOL + 1, 50, slippage_threshold(SELL_SOL, 50)),  # unreachable
    ("SOL", "USDC", 10 * SOL, 1, 0, SELL_SOL),  # no slippage allowed
    ("USDC", "SOL", 1_500 * USDC, 0, 100, slippage_threshold(SELL_USDC, 100)),
    ("USDC", "SOL", 1_500 * USDC, SELL_USDC - 5, 100, SELL_USDC - 5),
]


async def test_quotes_both_directions_like_jupiter(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Quotes give the curve's output and max(min_out, slippage threshold) when it is reachable."""
    venue = await started(config, tokens, store)
    for sell, buy, amount, min_out, slippage, threshold in THRESHOLDS:
        quote = await only_quote(venue, request(tokens, sell, buy, amount, min_out, slippage))
        swap = constant_product_out(*(RESERVES if sell == "SOL" else RESERVES[::-1]), amount,
                                    FEE_BPS)  # fmt: skip
        assert (quote.venue, quote.source) == ("localdex", POOL)
        assert quote.expected_out == swap.expected_out
        assert quote.guaranteed_out == threshold, (sell, min_out, slippage)
        assert quote.price_impact_bps == swap.price_impact_bps.quantize(Decimal("0.0001"))
        assert quote.fee_bps == Decimal(FEE_BPS)
        assert quote.firm is False
        assert quote.signatures == 1
        assert (quote.quoted_at, quote.expires_at) == (NOW, NOW + QUOTE_TTL_S)
        assert quote.details["sell_mint"] == tokens.require(sell).mint
    assert 1_490 * USDC < SELL_SOL < 1_500 * USDC
    assert 9 * SOL < SELL_USDC < 10 * SOL


async def test_quotes_miss_when_not_loaded_or_worthless(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Before start a pool is not_loaded; a trade that buys nothing is zero_output."""
    venue = make_venue(config, tokens)
    asked = request(tokens, "SOL", "USDC", 10 * SOL)
    assert await venue.quote(asked, NOW) == [QuoteMiss("localdex", POOL, "not_loaded")]
    await venue.start(store)
    assert await venue.quote(request(tokens, "SOL", "USDC", 1), NOW) == [
        QuoteMiss("localdex", POOL, "zero_output")
    ]
    assert await venue.quote(request(tokens, "RAY", "SOL", USDC), NOW) == []


async def test_fill_moves_reserves_and_committed_updates_the_cache(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A fill pays the quoted output, moves the SQL reserves, and committed() updates the cache."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, request(tokens, "SOL", "USDC", 10 * SOL))
    async with store.transaction() as connection:
        fill = await venue.fill(connection, quote)
    after = books.AmmReserves(POOL, RESERVES[0] + 10 * SOL, RESERVES[1] - SELL_SOL, 1)
    assert fill.realised_out == quote.expected_out == SELL_SOL
    assert fill.state_after == after
    assert await sql_reserves(store) == after
    assert venue.reserves[POOL] == books.AmmReserves(POOL, *RESERVES, 0)
    venue.committed(fill)
    assert venue.reserves[POOL] == after

    back = await only_quote(venue, request(tokens, "USDC", "SOL", SELL_SOL))
    async with store.transaction() as connection:
        venue.committed(await venue.fill(connection, back))
    reserves = await sql_reserves(store)
    assert (reserves.base, reserves.quote, reserves.version) == (
        after.base - back.expected_out, RESERVES[1], 2,
    )  # fmt: skip
    assert back.expected_out < 10 * SOL  # the round trip paid two fees
    assert venue.reserves[POOL] == reserves


# (slippage_bps of both quotes, whether the second fill still meets its threshold)
RACES = [(10, False), (300, True)]


@pytest.mark.parametrize(("slippage", "second_fills"), RACES)
async def test_fill_meets_the_pool_as_it_is(
    config: AgentConfig, tokens: TokenRegistry, store: Store, slippage: int, second_fills: bool
) -> None:
    """Of two fills quoted at one state, the second gets the moved price or slippage_exceeded."""
    venue = await started(config, tokens, store)
    asked = request(tokens, "SOL", "USDC", 100 * SOL, slippage_bps=slippage)
    first, second = await only_quote(venue, asked), await only_quote(venue, asked)
    assert first == second
    async with store.transaction() as connection:
        venue.committed(await venue.fill(connection, first))
    moved = await sql_reserves(store)
    expected_second = constant_product_out(moved.base, moved.quote, 100 * SOL, FEE_BPS)
    if second_fills:
        async with store.transaction() as connection:
            fill = await venue.fill(connection, second)
        assert fill.realised_out == expected_second.expected_out
        assert second.guaranteed_out <= fill.realised_out < second.expected_out
        assert (await sql_reserves(store)).version == 2
    else:
        with pytest.raises(LegFailed) as failed:
            async with store.transaction() as connection:
                await venue.fill(connection, second)
        assert failed.value.reason is Reason.SLIPPAGE_EXCEEDED
        assert expected_second.expected_out < second.guaranteed_out
        assert await sql_reserves(store) == moved


async def test_rebalance_pulls_the_price_toward_the_oracle(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """rebalance() moves a displaced pool rebalance_fraction of the way back to the oracle price."""
    venue = await started(config, tokens, store)
    pool = venue.pools[POOL]
    quote = await only_quote(venue, request(tokens, "SOL", "USDC", 2_000 * SOL))
    async with store.transaction() as connection:
        venue.committed(await venue.fill(connection, quote))
    displaced = await sql_reserves(store)
    oracle = Decimal("0.15")  # 150 USDC per SOL in micro-USDC per lamport
    await venue.rebalance(store)
    rebalanced = await sql_reserves(store)

    assert (rebalanced.base, rebalanced.quote) == rebalance_towards(
        displaced.base, displaced.quote, oracle, pool.rebalance_fraction
    )
    assert rebalanced.version == displaced.version + 1
    price_before = Decimal(displaced.quote) / displaced.base
    price_after = Decimal(rebalanced.quote) / rebalanced.base
    assert price_before < price_after < oracle
    assert abs(
        price_after - (price_before + pool.rebalance_fraction * (oracle - price_before))
    ) < Decimal("1e-9")
    assert venue.reserves[POOL] == rebalanced
    at_oracle = await sql_reserves(store, "amm-usdc-usdt")
    assert (at_oracle.base, at_oracle.quote, at_oracle.version) == (
        2_000_000 * USDC,
        2_000_000 * USDC,
        0,
    )


async def test_restart_keeps_the_traded_reserves(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A venue started again on the same database loads the traded reserves, not the config's."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, request(tokens, "SOL", "USDC", 10 * SOL))
    async with store.transaction() as connection:
        fill = await venue.fill(connection, quote)
    restarted = await started(config, tokens, store)
    assert restarted.reserves[POOL] == fill.state_after
