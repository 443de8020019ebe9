"""The local DEX built from the shipped configuration: Jupiter-like quotes, honest fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import Connection

from agent.app.builders import build_localdex_pools
from agent.config import AgentConfig
from agent.domain.amm import constant_product_out, rebalance_towards, slippage_threshold
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import TokenRegistry
from agent.store import pools as books
from agent.store.database import Store
from agent.store.pools import PoolBookKeeper, SqlPoolBooks
from agent.venues.base import LegFailed
from agent.venues.localdex import QUOTE_TTL_S, LocalDexVenue
from tests.support.venues import quote_request, static_oracle

NOW = 1_750_000_000.0
SOL = 10**9
USDC = 10**6
POOL = "amm-sol-usdc"
# configs/pools.toml: 20000 SOL / 3_000_000 USDC, 5 bps fee.
RESERVES = (20_000 * SOL, 3_000_000 * USDC)
FEE_BPS = 5


def make_venue(config: AgentConfig, tokens: TokenRegistry) -> LocalDexVenue:
    return LocalDexVenue(build_localdex_pools(config, tokens), static_oracle(tokens))


async def started(config: AgentConfig, tokens: TokenRegistry, store: Store) -> LocalDexVenue:
    venue = make_venue(config, tokens)
    await venue.start(PoolBookKeeper(store))
    return venue


async def only_quote(venue: LocalDexVenue, asked: QuoteRequest) -> Quote:
    answers = await venue.quote(asked, NOW)
    assert len(answers) == 1
    assert isinstance(answers[0], Quote), answers
    return answers[0]


async def sql_reserves(store: Store, pool_id: str = POOL) -> books.AmmReserves:
    return (await store.read(books.load_localdex_pools))[pool_id]


def fill_in(
    connection: Connection, venue: LocalDexVenue, quote: Quote
) -> tuple[books.AmmReserves, int]:
    """What the recorder does for one fill: lock the pool, apply the quote, save the reserves."""
    before = venue.lock(SqlPoolBooks(connection), [quote.source])
    after, realised = venue.apply(before[quote.source], quote)
    venue.save(SqlPoolBooks(connection), before, {quote.source: after}, {quote.source: 1}, {})
    return after, realised


async def fill(store: Store, venue: LocalDexVenue, quote: Quote) -> tuple[books.AmmReserves, int]:
    """One committed fill; the venue's cache is left for the caller to update."""
    return await store.write(fill_in, venue, quote)


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
        quote = await only_quote(venue, quote_request(tokens, sell, buy, amount, min_out, slippage))
        swap = constant_product_out(*(RESERVES if sell == "SOL" else RESERVES[::-1]), amount,
                                    FEE_BPS)  # fmt: skip
        assert (quote.venue, quote.source) == ("localdex", POOL)
        assert quote.expected_out == swap.expected_out
        assert quote.guaranteed_out == threshold, (sell, min_out, slippage)
        assert quote.price_impact_bps == swap.price_impact_bps.quantize(Decimal("0.0001"))
        assert quote.fee_bps == Decimal(FEE_BPS)
        assert quote.firm is False
        assert quote.signatures == 2  # the pool authority co-signs the settlement
        assert (quote.quoted_at, quote.expires_at) == (NOW, NOW + QUOTE_TTL_S)
        assert quote.details["sell_mint"] == tokens.require(sell).mint
    assert 1_490 * USDC < SELL_SOL < 1_500 * USDC
    assert 9 * SOL < SELL_USDC < 10 * SOL


async def test_quotes_miss_when_not_loaded_or_worthless(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Before start a pool is not_loaded; a trade that buys nothing is zero_output."""
    venue = make_venue(config, tokens)
    asked = quote_request(tokens, "SOL", "USDC", 10 * SOL)
    assert await venue.quote(asked, NOW) == [QuoteMiss("localdex", POOL, "not_loaded")]
    await venue.start(PoolBookKeeper(store))
    assert await venue.quote(quote_request(tokens, "SOL", "USDC", 1), NOW) == [
        QuoteMiss("localdex", POOL, "zero_output")
    ]
    assert await venue.quote(quote_request(tokens, "RAY", "SOL", USDC), NOW) == []


async def test_fill_moves_reserves_and_committed_updates_the_cache(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A fill pays the quoted output, moves the SQL reserves, and committed() updates the cache."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 10 * SOL))
    after, realised = await fill(store, venue, quote)
    assert realised == quote.expected_out == SELL_SOL
    assert after == books.AmmReserves(POOL, RESERVES[0] + 10 * SOL, RESERVES[1] - SELL_SOL, 0)
    saved = books.AmmReserves(POOL, RESERVES[0] + 10 * SOL, RESERVES[1] - SELL_SOL, 1)
    assert await sql_reserves(store) == saved  # the save bumped the version
    assert venue.reserves[POOL] == books.AmmReserves(POOL, *RESERVES, 0)
    venue.committed({POOL: after})
    assert venue.reserves[POOL] == saved

    back = await only_quote(venue, quote_request(tokens, "USDC", "SOL", SELL_SOL))
    venue.committed({POOL: (await fill(store, venue, back))[0]})
    reserves = await sql_reserves(store)
    assert (reserves.base, reserves.quote, reserves.version) == (
        saved.base - back.expected_out, RESERVES[1], 2,
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
    asked = quote_request(tokens, "SOL", "USDC", 100 * SOL, slippage_bps=slippage)
    first, second = await only_quote(venue, asked), await only_quote(venue, asked)
    assert first == second
    venue.committed({POOL: (await fill(store, venue, first))[0]})
    moved = await sql_reserves(store)
    expected_second = constant_product_out(moved.base, moved.quote, 100 * SOL, FEE_BPS)
    if second_fills:
        _, realised = await fill(store, venue, second)
        assert realised == expected_second.expected_out
        assert second.guaranteed_out <= realised < second.expected_out
        assert (await sql_reserves(store)).version == 2
    else:
        with pytest.raises(LegFailed) as failed:
            await fill(store, venue, second)
        assert failed.value.reason is Reason.SLIPPAGE_EXCEEDED
        assert expected_second.expected_out < second.guaranteed_out
        assert await sql_reserves(store) == moved


@pytest.mark.parametrize(("slippage", "second_fills"), RACES)
async def test_apply_in_sequence_to_one_book(
    config: AgentConfig, tokens: TokenRegistry, store: Store, slippage: int, second_fills: bool
) -> None:
    """Two quotes taken at one state, applied in turn to one book: the second meets the moved pool."""
    venue = await started(config, tokens, store)
    asked = quote_request(tokens, "SOL", "USDC", 100 * SOL, slippage_bps=slippage)
    first, second = await only_quote(venue, asked), await only_quote(venue, asked)
    book = venue.reserves[POOL]
    moved, realised = venue.apply(book, first)
    assert realised == first.expected_out
    assert (moved.base, moved.quote, moved.version) == (
        RESERVES[0] + 100 * SOL, RESERVES[1] - first.expected_out, book.version,
    )  # fmt: skip
    at_moved = constant_product_out(moved.base, moved.quote, 100 * SOL, FEE_BPS).expected_out
    if second_fills:
        final, paid = venue.apply(moved, second)
        assert paid == at_moved < second.expected_out
        assert (final.base, final.quote) == (moved.base + 100 * SOL, moved.quote - paid)
    else:
        with pytest.raises(LegFailed) as failed:
            venue.apply(moved, second)
        assert failed.value.reason is Reason.SLIPPAGE_EXCEEDED
        assert str(second.guaranteed_out) in failed.value.detail
    assert venue.apply(book, second) == (moved, first.expected_out)  # the book is a value


async def test_apply_buys_base_with_quote(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Selling the quote token adds it to the quote reserve and pays out of the base reserve."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, quote_request(tokens, "USDC", "SOL", 1_500 * USDC))
    after, realised = venue.apply(venue.reserves[POOL], quote)
    assert realised == SELL_USDC
    assert after == books.AmmReserves(POOL, RESERVES[0] - SELL_USDC, RESERVES[1] + 1_500 * USDC, 0)


async def test_concurrent_fills_serialise_on_the_pool(
    config: AgentConfig, tokens: TokenRegistry, store: Store, database_url: str
) -> None:
    """20 concurrent lock→apply→save writes from two stores each see the last: version 20, no loss."""
    venue = await started(config, tokens, store)
    quote = await only_quote(
        venue, quote_request(tokens, "SOL", "USDC", 10 * SOL, slippage_bps=500)
    )
    other = Store.from_url(database_url)  # a second daemon on the same database
    try:
        results = await asyncio.gather(
            *((store, other)[n % 2].write(fill_in, venue, quote) for n in range(20))
        )
    finally:
        await other.aclose()
    expected = books.AmmReserves(POOL, *RESERVES, 0)
    for _ in range(20):
        expected, _paid = venue.apply(expected, quote)
    reserves = await sql_reserves(store)
    assert (reserves.base, reserves.quote, reserves.version) == (expected.base, expected.quote, 20)
    assert sorted(r.version for r, _ in results) == list(range(20))
    assert sum(paid for _, paid in results) == RESERVES[1] - reserves.quote


async def test_rebalance_pulls_the_price_toward_the_oracle(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """rebalance() moves a displaced pool rebalance_fraction of the way back to the oracle price."""
    venue = await started(config, tokens, store)
    pool = venue.pools[POOL]
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 2_000 * SOL))
    venue.committed({POOL: (await fill(store, venue, quote))[0]})
    displaced = await sql_reserves(store)
    oracle = Decimal("0.15")  # 150 USDC per SOL in micro-USDC per lamport
    await venue.rebalance(PoolBookKeeper(store))
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
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 10 * SOL))
    after, _ = await fill(store, venue, quote)
    restarted = await started(config, tokens, store)
    assert restarted.reserves[POOL] == books.AmmReserves(POOL, after.base, after.quote, 1)


async def test_a_drained_pool_is_a_miss_and_has_no_curve(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A pool with an empty side quotes `drained` and offers no curve (nothing raises)."""
    venue = make_venue(config, tokens)
    await venue.start(PoolBookKeeper(store))
    venue.committed({POOL: books.AmmReserves(POOL, RESERVES[0], 0, 0)})
    asked = quote_request(tokens, "SOL", "USDC", 10 * SOL)
    assert await venue.quote(asked, NOW) == [QuoteMiss("localdex", POOL, "drained")]
    assert await venue.curves(asked, [], NOW) == []
