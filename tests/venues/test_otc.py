"""The OTC venue built from the shipped configuration: firm quotes, last look, books in SQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import Connection

from agent.app.builders import build_otc_pools
from agent.config import AgentConfig
from agent.domain.otc_pricing import OtcInventory, Side, quote_otc
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import TokenRegistry
from agent.store import pools as books
from agent.store.database import Store
from agent.store.pools import PoolBookKeeper, SqlPoolBooks
from agent.venues.base import LegFailed
from agent.venues.otc import OtcVenue
from tests.support.venues import quote_request, static_oracle

NOW = 1_750_000_000.0
SOL = 10**9
USDC = 10**6
POOL = "otc-sol-usdc"
MID = Decimal(150)  # SOL and USDC static prices in configs/tokens.toml


class FakeSleep:
    """Records the delays it is asked to wait, and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_venue(
    config: AgentConfig,
    tokens: TokenRegistry,
    *,
    probability: Decimal | None = None,
    seed: int = 1,
    sleep: FakeSleep | None = None,
    honour_delay: bool = True,
) -> OtcVenue:
    pools = build_otc_pools(config, tokens)
    if probability is not None:
        pools = [replace(pool, last_look_reject_probability=probability) for pool in pools]
    return OtcVenue(pools, static_oracle(tokens), rng=random.Random(seed),
                    sleep=sleep or FakeSleep(), honour_execution_delay=honour_delay)  # fmt: skip


async def started(
    config: AgentConfig, tokens: TokenRegistry, store: Store, **kwargs: object
) -> OtcVenue:
    venue = make_venue(config, tokens, **kwargs)  # type: ignore[arg-type]
    await venue.start(PoolBookKeeper(store))
    return venue


async def only_quote(venue: OtcVenue, asked: QuoteRequest, now: float = NOW) -> Quote:
    answers = await venue.quote(asked, now)
    assert len(answers) == 1
    assert isinstance(answers[0], Quote), answers
    return answers[0]


async def sql_book(store: Store, pool_id: str = POOL) -> books.OtcBook:
    return (await store.read(books.load_otc_pools))[pool_id]


def fill_in(connection: Connection, venue: OtcVenue, quote: Quote) -> tuple[OtcInventory, int]:
    """What the recorder does for one fill: lock the pool, apply the quote, save the book."""
    before = venue.lock(SqlPoolBooks(connection), [quote.source])
    after, realised = venue.apply(before[quote.source], quote)
    venue.save(SqlPoolBooks(connection), before, {quote.source: after}, {quote.source: 1}, {})
    return after, realised


async def fill(store: Store, venue: OtcVenue, quote: Quote) -> tuple[OtcInventory, int]:
    """One committed fill; the venue's cache is left for the caller to update."""
    return await store.write(fill_in, venue, quote)


async def set_inventory(store: Store, inventory: OtcInventory, pool_id: str = POOL) -> None:
    await store.write(books.save_otc_books, {pool_id: inventory}, {})


# prepare() needs no books: a firm quote as the pool would give it.
FIRM = Quote(
    venue="otc", source=POOL, amount_in=10 * SOL, expected_out=1_498 * USDC,
    guaranteed_out=1_498 * USDC, fee_bps=Decimal("13.5"), price_impact_bps=Decimal("5.5"),
    quoted_at=NOW, expires_at=NOW + 10, signatures=2, firm=True, price_source="static",
    details={"side": "sell_base", "mid": "150"},
)  # fmt: skip


# (sell, buy, amount in, side, output at mid, min_out, slippage_bps)
DIRECTIONS = [
    ("SOL", "USDC", 10 * SOL, Side.SELL_BASE, 1_500 * USDC, 0, 50),
    ("SOL", "USDC", 10 * SOL, Side.SELL_BASE, 1_500 * USDC, 1_499 * USDC, 0),
    ("USDC", "SOL", 1_500 * USDC, Side.BUY_BASE, 10 * SOL, 0, 50),
    ("USDC", "SOL", 1_500 * USDC, Side.BUY_BASE, 10 * SOL, 10 * SOL, 300),
    ("SOL", "USDC", 2_500 * SOL, Side.SELL_BASE, 375_000 * USDC, 0, 50),  # max_base exactly
]


async def test_quotes_both_directions_firm_until_the_ttl(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Both directions get a firm quote (expected == guaranteed) below mid, valid for the TTL."""
    venue = await started(config, tokens, store)
    pool = venue.pools[POOL]
    for sell, buy, amount, side, at_mid, min_out, slippage in DIRECTIONS:
        quote = await only_quote(venue, quote_request(tokens, sell, buy, amount, min_out, slippage))
        exact = quote_otc(pool.params, pool.start, MID, side, amount)
        assert (quote.venue, quote.source, quote.details["side"]) == ("otc", POOL, side.value)
        assert quote.amount_in == amount
        assert quote.expected_out == quote.guaranteed_out == exact.amount_out
        assert at_mid * 99 // 100 < quote.expected_out < at_mid, (sell, amount)
        assert quote.fee_bps == exact.spread_bps
        assert quote.firm is True
        assert quote.signatures == 2
        assert quote.price_source == "static"
        assert (quote.quoted_at, quote.expires_at) == (NOW, NOW + pool.quote_ttl_s)
        assert pool.quote_ttl_s == 10


# (sell, buy, amount in, the reason the pool gives no quote)
MISSES = [
    ("SOL", "USDC", SOL // 2, "below_min_size"),
    ("SOL", "USDC", 2_500 * SOL + 1, "above_max_size"),
    ("USDC", "SOL", 100 * USDC, "below_min_size"),  # 0.67 SOL at mid
    ("USDC", "SOL", 375_000 * USDC + 1, "above_max_size"),  # just over 2500 SOL at mid
    ("SOL", "USDC", 0, "zero_amount"),
]


async def test_quotes_outside_the_size_bounds_miss_with_the_reason(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Trades below min_base or above max_base (either direction) get a QuoteMiss saying so."""
    venue = await started(config, tokens, store)
    for sell, buy, amount, reason in MISSES:
        answers = await venue.quote(quote_request(tokens, sell, buy, amount), NOW)
        assert len(answers) == 1
        miss = answers[0]
        assert isinstance(miss, QuoteMiss), (sell, amount)
        assert (miss.venue, miss.source, miss.reason) == ("otc", POOL, reason)
        assert miss.detail


async def test_quotes_miss_when_the_books_are_short_or_not_loaded(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """An unloaded pool, or one whose SQL inventory cannot pay, misses; other pairs get nothing."""
    venue = make_venue(config, tokens)
    asked = quote_request(tokens, "SOL", "USDC", 10 * SOL)
    assert await venue.quote(asked, NOW) == [QuoteMiss("otc", POOL, "not_loaded")]
    await venue.start(PoolBookKeeper(store))
    assert await venue.quote(quote_request(tokens, "SOL", "RAY", 10 * SOL), NOW) == []
    start = venue.pools[POOL].start
    await set_inventory(store, OtcInventory(start.base, USDC))
    await venue.refresh(PoolBookKeeper(store))
    [miss] = await venue.quote(asked, NOW)
    assert isinstance(miss, QuoteMiss)
    assert miss.reason == "insufficient_inventory"


async def test_last_look_always_rejects_at_probability_one(
    make_config: Callable[..., AgentConfig], tokens: TokenRegistry
) -> None:
    """With a reject probability of 1, prepare() raises LegFailed(last_look_rejected) every time."""
    venue = make_venue(make_config(), tokens, probability=Decimal(1), seed=3)
    for _ in range(50):
        with pytest.raises(LegFailed) as failed:
            await venue.prepare(FIRM)
        assert failed.value.reason is Reason.LAST_LOOK_REJECTED
        assert POOL in failed.value.detail


async def test_last_look_never_rejects_at_probability_zero(
    make_config: Callable[..., AgentConfig], tokens: TokenRegistry
) -> None:
    """With a reject probability of 0, prepare() never raises, whatever the random draws."""
    sleep = FakeSleep()
    venue = make_venue(make_config(), tokens, probability=Decimal(0), seed=3, sleep=sleep)
    for _ in range(1_000):
        await venue.prepare(FIRM)
    assert len(sleep.delays) == 1_000


async def test_last_look_rejects_at_the_configured_rate(
    make_config: Callable[..., AgentConfig], tokens: TokenRegistry
) -> None:
    """A seeded generator rejects about the configured share of 2000 prepares (25% here)."""
    venue = make_venue(make_config(), tokens, probability=Decimal("0.25"), seed=11)
    rejected = 0
    for _ in range(2_000):
        try:
            await venue.prepare(FIRM)
        except LegFailed:
            rejected += 1
    assert 400 < rejected < 600


@pytest.mark.parametrize(("honour", "delays"), [(True, [0.025]), (False, [])])
async def test_prepare_awaits_the_execution_delay(
    make_config: Callable[..., AgentConfig],
    tokens: TokenRegistry,
    honour: bool,
    delays: list[float],
) -> None:
    """prepare() awaits the injected sleep for the pool's execution delay, unless told not to."""
    sleep = FakeSleep()
    venue = make_venue(make_config(), tokens, probability=Decimal(0), sleep=sleep,
                       honour_delay=honour)  # fmt: skip
    await venue.prepare(FIRM)
    assert sleep.delays == delays


# A firm quote on a pool holding START: (side, amount_in, amount_out, inventory after).
START = OtcInventory(base=1_000, quote=5_000)
FILLS = [
    (Side.SELL_BASE, 10, 50, OtcInventory(base=1_010, quote=4_950)),
    (Side.BUY_BASE, 50, 10, OtcInventory(base=990, quote=5_050)),
    (Side.SELL_BASE, 1, 5_000, OtcInventory(base=1_001, quote=0)),  # the whole paying side
    (Side.BUY_BASE, 5_000, 1_000, OtcInventory(base=0, quote=10_000)),
]

# (side, amount_out) that the paying side of START cannot cover.
SHORT = [(Side.SELL_BASE, 5_001), (Side.BUY_BASE, 1_001)]


def firm(side: Side, amount_in: int, amount_out: int) -> Quote:
    return replace(FIRM, amount_in=amount_in, expected_out=amount_out, guaranteed_out=amount_out,
                   details={"side": side.value, "mid": "150"})  # fmt: skip


def test_apply_moves_the_right_sides(
    make_config: Callable[..., AgentConfig], tokens: TokenRegistry
) -> None:
    """apply() adds amount_in to the side the pool receives and pays amount_out from the other."""
    venue = make_venue(make_config(), tokens)
    for side, amount_in, amount_out, after in FILLS:
        assert venue.apply(START, firm(side, amount_in, amount_out)) == (after, amount_out), side


def test_apply_refuses_when_the_paying_side_is_short(
    make_config: Callable[..., AgentConfig], tokens: TokenRegistry
) -> None:
    """A fill the paying side cannot cover raises LegFailed(inventory_exhausted)."""
    venue = make_venue(make_config(), tokens)
    for side, amount_out in SHORT:
        with pytest.raises(LegFailed) as failed:
            venue.apply(START, firm(side, 1, amount_out))
        assert failed.value.reason is Reason.INVENTORY_EXHAUSTED, side
        assert POOL in failed.value.detail


async def test_fill_moves_sql_inventory_and_committed_updates_the_cache(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """lock→apply→save moves the SQL book in the transaction; committed() then updates the cache."""
    venue = await started(config, tokens, store)
    start = venue.pools[POOL].start
    sell = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 10 * SOL))
    after_sell, realised = await fill(store, venue, sell)
    assert after_sell == OtcInventory(start.base + 10 * SOL, start.quote - sell.expected_out)
    assert realised == sell.expected_out
    assert (await sql_book(store)).inventory == after_sell
    assert (await sql_book(store)).fills == 1
    assert venue.books[POOL].inventory == start  # not until the commit is known
    venue.committed({POOL: after_sell})
    assert venue.books[POOL].inventory == after_sell
    assert venue.books[POOL].target == start

    buy = await only_quote(venue, quote_request(tokens, "USDC", "SOL", 3_000 * USDC))
    after_buy, _ = await fill(store, venue, buy)
    venue.committed({POOL: after_buy})
    assert after_buy == OtcInventory(after_sell.base - buy.expected_out,
                                     after_sell.quote + 3_000 * USDC)  # fmt: skip
    assert (await sql_book(store)).inventory == after_buy == venue.books[POOL].inventory
    assert (await sql_book(store)).fills == 2


async def test_a_rolled_back_fill_leaves_the_inventory(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """When the recording transaction fails, the fill's inventory move is rolled back with it."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 10 * SOL))

    def fill_then_fail(connection: Connection) -> None:
        fill_in(connection, venue, quote)
        raise RuntimeError("recording failed")

    with pytest.raises(RuntimeError):
        await store.write(fill_then_fail)
    book = await sql_book(store)
    assert (book.inventory, book.fills) == (venue.pools[POOL].start, 0)


async def test_two_daemons_never_sell_the_same_inventory(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Two venues quoting the same book: the second fill finds the inventory gone and fails."""
    first = await started(config, tokens, store)
    second = await started(config, tokens, store)
    start = first.pools[POOL].start
    # Leave the pool just enough USDC for one 2000 SOL sale.
    await set_inventory(store, OtcInventory(start.base, 400_000 * USDC))
    await first.refresh(PoolBookKeeper(store))
    await second.refresh(PoolBookKeeper(store))
    asked = quote_request(tokens, "SOL", "USDC", 2_000 * SOL)
    quotes = [await only_quote(first, asked), await only_quote(second, asked)]
    after, _ = await fill(store, first, quotes[0])
    first.committed({POOL: after})
    with pytest.raises(LegFailed) as failed:
        await fill(store, second, quotes[1])
    assert failed.value.reason is Reason.INVENTORY_EXHAUSTED
    book = await sql_book(store)
    assert (
        book.inventory
        == after
        == OtcInventory(start.base + 2_000 * SOL, 400_000 * USDC - quotes[0].expected_out)
    )
    assert book.fills == 1


async def test_one_book_refuses_a_second_fill_of_the_same_inventory(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Two quotes taken at one state, applied in turn to one book: the second is exhausted."""
    venue = await started(config, tokens, store)
    start = venue.pools[POOL].start
    await set_inventory(store, OtcInventory(start.base, 400_000 * USDC))
    await venue.refresh(PoolBookKeeper(store))
    asked = quote_request(tokens, "SOL", "USDC", 2_000 * SOL)
    first, second = await only_quote(venue, asked), await only_quote(venue, asked)
    assert first == second
    book = venue.books[POOL].inventory
    after, _ = venue.apply(book, first)
    with pytest.raises(LegFailed) as failed:
        venue.apply(after, second)
    assert failed.value.reason is Reason.INVENTORY_EXHAUSTED
    assert venue.apply(book, second) == (after, second.expected_out)  # the book is a value


async def test_concurrent_fills_never_overdraw(
    config: AgentConfig, tokens: TokenRegistry, store: Store, database_url: str
) -> None:
    """40 concurrent lock→apply→save writes from two stores: exactly 16 fill, the sums are exact."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 2 * SOL))
    paid = quote.expected_out
    start = OtcInventory(venue.pools[POOL].start.base, 16 * paid + paid - 1)
    await set_inventory(store, start)

    def attempt(connection: Connection) -> OtcInventory | None:
        try:
            return fill_in(connection, venue, quote)[0]
        except LegFailed as failed:
            assert failed.reason is Reason.INVENTORY_EXHAUSTED
            return None

    other = Store.from_url(database_url)  # a second daemon on the same database
    try:
        results = await asyncio.gather(*((store, other)[n % 2].write(attempt) for n in range(40)))
    finally:
        await other.aclose()
    taken = [r for r in results if r is not None]
    book = await sql_book(store)
    assert len(taken) == 16
    assert book.inventory == OtcInventory(start.base + 16 * 2 * SOL, paid - 1)
    assert book.fills == 16
    # Each fill saw the one before it: no two wrote from the same state.
    assert sorted(r.quote for r in taken) == [start.quote - n * paid for n in range(16, 0, -1)]


async def test_save_counts_last_look_declines(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Declines handed to save() are counted on their pool; inventory and fills stay put."""
    venue = await started(config, tokens, store)
    start = venue.pools[POOL].start
    await PoolBookKeeper(store).write(venue.save, {}, {}, {}, {POOL: 2})
    await PoolBookKeeper(store).write(venue.save, {}, {}, {}, {POOL: 0, "otc-usdc-usdt": 1})
    book = await sql_book(store)
    assert (book.last_look_rejects, book.fills, book.inventory) == (2, 0, start)
    assert (await sql_book(store, "otc-usdc-usdt")).last_look_rejects == 1


async def test_replenish_moves_inventory_part_way_back_to_target(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """Each replenish closes replenish_fraction of the gap to the target, never overshooting."""
    venue = await started(config, tokens, store)
    pool = venue.pools[POOL]
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 1_000 * SOL))
    venue.committed({POOL: (await fill(store, venue, quote))[0]})
    base, quote_side = pool.start.base + 1_000 * SOL, pool.start.quote - quote.expected_out
    assert pool.replenish_fraction == Decimal("0.1")
    for _ in range(3):
        await venue.replenish(PoolBookKeeper(store))
        base -= (base - pool.start.base) // 10
        quote_side += (pool.start.quote - quote_side) // 10
        assert (await sql_book(store)).inventory == OtcInventory(base, quote_side)
        assert venue.books[POOL].inventory == OtcInventory(base, quote_side)
    assert pool.start.base < base < pool.start.base + 1_000 * SOL
    assert pool.start.quote - quote.expected_out < quote_side < pool.start.quote
    assert (await sql_book(store)).fills == 1  # replenishing is not a fill
    untouched = await sql_book(store, "otc-usdc-usdt")
    assert untouched.inventory == venue.pools["otc-usdc-usdt"].start


async def test_restart_keeps_the_traded_inventory(
    config: AgentConfig, tokens: TokenRegistry, store: Store
) -> None:
    """A venue started again on the same database loads the traded book, not the config's."""
    venue = await started(config, tokens, store)
    quote = await only_quote(venue, quote_request(tokens, "SOL", "USDC", 10 * SOL))
    after, _ = await fill(store, venue, quote)
    restarted = await started(config, tokens, store)
    assert restarted.books[POOL].inventory == after
    assert restarted.books[POOL].target == venue.pools[POOL].start
    assert restarted.books[POOL].fills == 1
