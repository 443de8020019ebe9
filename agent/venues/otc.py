"""OTC pools modelled on RFQ market makers: firm quotes, a last look, books kept in SQL.

Each pool quotes both directions of its pair around the oracle mid (agent.domain.otc_pricing
holds the spread model). A quote is firm for ``quote_ttl_s``; filling it waits the pool's
execution delay, then the maker may still refuse (last look) with its configured probability.
Inventory is moved by a conditional SQL update in the transaction that records the fill, so
two fills, or two daemons, can never spend the same inventory.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from agent.domain.allocation import Curve
from agent.domain.otc_pricing import (
    OtcBook,
    OtcInventory,
    OtcPoolParams,
    OtcPricer,
    OtcRejection,
    Side,
    quote_otc,
)
from agent.domain.outcomes import Reason
from agent.domain.prices import PriceOracle, PriceUnavailable
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import Token
from agent.venues.base import LegFailed
from agent.venues.books import BookKeeper, PoolBooks

__all__ = ["OtcPool", "OtcVenue"]

# Taker and pool authority both sign an OTC settlement.
OTC_SIGNATURES = 2


@dataclass(frozen=True, slots=True)
class OtcPool:
    id: str
    base: Token
    quote: Token
    params: OtcPoolParams
    start: OtcInventory
    quote_ttl_s: float
    execution_delay_s: float
    last_look_reject_probability: Decimal
    replenish_fraction: Decimal


class OtcVenue:
    name = "otc"

    def __init__(
        self,
        pools: Sequence[OtcPool],
        oracle: PriceOracle,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        honour_execution_delay: bool = True,
    ) -> None:
        self.pools = {pool.id: pool for pool in pools}
        self._oracle = oracle
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._honour_delay = honour_execution_delay
        self._books: dict[str, OtcBook] = {}

    @property
    def books(self) -> dict[str, OtcBook]:
        return dict(self._books)

    async def start(self, keeper: BookKeeper) -> None:
        """Create missing books from configuration, then load what SQL holds."""
        await keeper.write(self._seed)
        await self.refresh(keeper)

    def _seed(self, books: PoolBooks) -> None:
        for pool in self.pools.values():
            books.seed_otc_pool(pool.id, pool.base.mint, pool.quote.mint, pool.start)

    async def refresh(self, keeper: BookKeeper) -> None:
        loaded = await keeper.read(_load_otc)
        self._books = {pool_id: book for pool_id, book in loaded.items() if pool_id in self.pools}

    def _pools_for(self, sell_mint: str, buy_mint: str) -> list[tuple[OtcPool, Side]]:
        found = []
        for pool in self.pools.values():
            if (pool.base.mint, pool.quote.mint) == (sell_mint, buy_mint):
                found.append((pool, Side.SELL_BASE))
            elif (pool.quote.mint, pool.base.mint) == (sell_mint, buy_mint):
                found.append((pool, Side.BUY_BASE))
        return found

    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]:
        answers: list[Quote | QuoteMiss] = []
        for pool, side in self._pools_for(request.sell_mint, request.buy_mint):
            book = self._books.get(pool.id)
            if book is None:
                answers.append(QuoteMiss(self.name, pool.id, "not_loaded"))
                continue
            try:
                base_price = await self._oracle.price(pool.base)
                quote_price = await self._oracle.price(pool.quote)
            except PriceUnavailable as exc:
                answers.append(QuoteMiss(self.name, pool.id, "no_price", str(exc)))
                continue
            mid = base_price.usd / quote_price.usd
            try:
                firm = quote_otc(pool.params, book.inventory, mid, side, request.amount)
            except OtcRejection as exc:
                answers.append(QuoteMiss(self.name, pool.id, str(exc.reason), exc.detail))
                continue
            sources = sorted({base_price.source, quote_price.source})
            impact = firm.size_component_bps + max(firm.skew_component_bps, Decimal(0))
            answers.append(
                Quote(
                    venue=self.name,
                    source=pool.id,
                    amount_in=request.amount,
                    expected_out=firm.amount_out,
                    guaranteed_out=firm.amount_out,
                    fee_bps=firm.spread_bps,
                    price_impact_bps=impact,
                    quoted_at=now,
                    expires_at=now + pool.quote_ttl_s,
                    signatures=OTC_SIGNATURES,
                    firm=True,
                    price_source="+".join(sources),
                    details={"side": side.value, "mid": str(mid)},
                )
            )
        return answers

    async def curves(
        self, request: QuoteRequest, quotes: Sequence[Quote], now: float
    ) -> list[Curve]:
        """Each pool of the pair as an exact function of size (firm: guaranteed = expected),
        on the book and mid it quotes from now; pools that cannot be priced are left out."""
        curves = []
        for pool, side in self._pools_for(request.sell_mint, request.buy_mint):
            book = self._books.get(pool.id)
            if book is None:
                continue
            try:
                base_price = await self._oracle.price(pool.base)
                quote_price = await self._oracle.price(pool.quote)
            except PriceUnavailable:
                continue
            mid = base_price.usd / quote_price.usd
            try:
                curves.append(_pool_curve(pool, book.inventory, mid, side, request.amount))
            except OtcRejection:
                continue  # a mid the pool cannot quote from (quote() reports it as a miss)
        return curves

    async def prepare(self, quote: Quote) -> None:
        pool = self.pools[quote.source]
        if self._honour_delay and pool.execution_delay_s > 0:
            await self._sleep(pool.execution_delay_s)
        # Integer draw against the probability keeps the comparison exact.
        threshold = int(pool.last_look_reject_probability * 1_000_000)
        if self._rng.randrange(1_000_000) < threshold:
            raise LegFailed(Reason.LAST_LOOK_REJECTED, f"{pool.id} declined on last look")

    def lock(self, books: PoolBooks, pool_ids: Iterable[str]) -> dict[str, OtcInventory]:
        return books.lock_otc_books(pool_ids)

    def apply(self, book: OtcInventory, quote: Quote) -> tuple[OtcInventory, int]:
        """A firm quote fills at its price if the paying side still holds enough."""
        amount_in, amount_out = quote.amount_in, quote.expected_out
        if Side(quote.details["side"]) is Side.SELL_BASE:
            if book.quote < amount_out:
                raise LegFailed(
                    Reason.INVENTORY_EXHAUSTED, f"{quote.source} is short of quote token"
                )
            return OtcInventory(
                base=book.base + amount_in, quote=book.quote - amount_out
            ), amount_out
        if book.base < amount_out:
            raise LegFailed(Reason.INVENTORY_EXHAUSTED, f"{quote.source} is short of base token")
        return OtcInventory(base=book.base - amount_out, quote=book.quote + amount_in), amount_out

    def revert(self, book: OtcInventory, quote: Quote, realised_out: int) -> OtcInventory:
        """Undo a reserved fill whose transaction did not land."""
        if Side(quote.details["side"]) is Side.SELL_BASE:
            return OtcInventory(base=book.base - quote.amount_in, quote=book.quote + realised_out)
        return OtcInventory(base=book.base + realised_out, quote=book.quote - quote.amount_in)

    def save(
        self,
        books: PoolBooks,
        before: Mapping[str, OtcInventory],
        after: Mapping[str, OtcInventory],
        fills: Mapping[str, int],
        declines: Mapping[str, int],
    ) -> None:
        books.save_otc_books(after, fills)
        books.count_otc_rejects(declines)

    def committed(self, after: Mapping[str, OtcInventory]) -> None:
        for pool_id, inventory in after.items():
            book = self._books.get(pool_id)
            if book is not None:
                self._books[pool_id] = OtcBook(
                    pool_id=pool_id,
                    inventory=inventory,
                    target=book.target,
                    fills=book.fills,
                    last_look_rejects=book.last_look_rejects,
                )

    async def replenish(self, keeper: BookKeeper) -> None:
        """The maker hedges elsewhere: close part of the gap back to the starting inventory."""
        await keeper.write(self._replenish)
        await self.refresh(keeper)

    def _replenish(self, books: PoolBooks) -> None:
        targets = {pool_id: book.target for pool_id, book in books.load_otc_pools().items()}
        current = books.lock_otc_books([p for p in self.pools if p in targets])
        moved = {}
        for pool_id, inventory in current.items():
            fraction, target = self.pools[pool_id].replenish_fraction, targets[pool_id]
            new = OtcInventory(
                base=_step(inventory.base, target.base, fraction),
                quote=_step(inventory.quote, target.quote, fraction),
            )
            if new != inventory:
                moved[pool_id] = new
        books.save_otc_books(moved, {})


def _pool_curve(
    pool: OtcPool, inventory: OtcInventory, mid: Decimal, side: Side, amount: int
) -> Curve:
    params = pool.params
    pricer = OtcPricer(params, inventory, mid, side)

    def outputs(size: int) -> tuple[int, int] | None:
        try:
            out = pricer.amount_out(size)
        except OtcRejection:
            return None  # includes a fill the paying inventory could not cover
        return out, out

    # Quote-token base units per base-token base unit at mid.
    per_base = mid.scaleb(params.quote_decimals - params.base_decimals)
    # The paying side's inventory caps the input too (at mid, plus a margin for the spread;
    # `outputs` refuses exactly), so the solver does not sample sizes the pool cannot pay.
    margin = Decimal("1.02")
    if side is Side.SELL_BASE:
        min_in, max_in = params.min_base, params.max_base
        affordable = int(inventory.quote / per_base * margin) if per_base > 0 else 0
    else:
        # Sizes are bounded in base units; the input here is the quote token.
        min_in = int((params.min_base * per_base).to_integral_value(rounding=ROUND_CEILING))
        max_in = int(params.max_base * per_base)
        affordable = int(inventory.base * per_base * margin)
    return Curve("otc", pool.id, max(1, min_in), min(max_in, affordable, amount), outputs)


def _step(current: int, target: int, fraction: Decimal) -> int:
    gap = Decimal(target - current) * fraction
    # Round toward the current value so a step never overshoots the target.
    return current + int(gap)


def _load_otc(books: PoolBooks) -> dict[str, OtcBook]:
    return books.load_otc_pools()
