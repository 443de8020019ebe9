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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.otc_pricing import (
    OtcInventory,
    OtcPoolParams,
    OtcRejection,
    Side,
    quote_otc,
)
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import Token
from agent.pricing.oracle import PriceOracle, PriceUnavailable
from agent.store import pools as books
from agent.store.database import Store
from agent.venues.base import Fill, LegFailed

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
        self._books: dict[str, books.OtcBook] = {}

    @property
    def books(self) -> dict[str, books.OtcBook]:
        return dict(self._books)

    async def start(self, store: Store) -> None:
        """Create missing books from configuration, then load what SQL holds."""
        async with store.transaction() as connection:
            for pool in self.pools.values():
                await books.seed_otc_pool(
                    connection, pool.id, pool.base.mint, pool.quote.mint, pool.start
                )
        await self.refresh(store)

    async def refresh(self, store: Store) -> None:
        async with store.reading() as connection:
            loaded = await books.load_otc_pools(connection)
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

    async def prepare(self, quote: Quote) -> None:
        pool = self.pools[quote.source]
        if self._honour_delay and pool.execution_delay_s > 0:
            await self._sleep(pool.execution_delay_s)
        # Integer draw against the probability keeps the comparison exact.
        threshold = int(pool.last_look_reject_probability * 1_000_000)
        if self._rng.randrange(1_000_000) < threshold:
            raise LegFailed(Reason.LAST_LOOK_REJECTED, f"{pool.id} declined on last look")

    async def fill(self, connection: AsyncConnection, quote: Quote) -> Fill:
        side = Side(quote.details["side"])
        after = await books.take_otc_fill(
            connection, quote.source, side, quote.amount_in, quote.expected_out
        )
        if after is None:
            raise LegFailed(Reason.INVENTORY_EXHAUSTED, f"{quote.source} no longer holds enough")
        return Fill(quote=quote, realised_out=quote.expected_out, state_after=after)

    async def record_failure(
        self, connection: AsyncConnection, quote: Quote, reason: Reason
    ) -> None:
        if reason is Reason.LAST_LOOK_REJECTED:
            await books.count_last_look_reject(connection, quote.source)

    def committed(self, fill: Fill) -> None:
        book = self._books.get(fill.quote.source)
        if book is not None:
            self._books[book.pool_id] = books.OtcBook(
                pool_id=book.pool_id,
                inventory=fill.state_after,
                target=book.target,
                fills=book.fills + 1,
                last_look_rejects=book.last_look_rejects,
            )

    async def replenish(self, store: Store) -> None:
        """The maker hedges elsewhere: close part of the gap back to the starting inventory."""
        await self.refresh(store)
        for pool_id, book in self._books.items():
            fraction = self.pools[pool_id].replenish_fraction
            new = OtcInventory(
                base=_step(book.inventory.base, book.target.base, fraction),
                quote=_step(book.inventory.quote, book.target.quote, fraction),
            )
            if new != book.inventory:
                async with store.transaction() as connection:
                    await books.set_otc_inventory(connection, pool_id, book.inventory, new)
        await self.refresh(store)


def _step(current: int, target: int, fraction: Decimal) -> int:
    gap = Decimal(target - current) * fraction
    # Round toward the current value so a step never overshoots the target.
    return current + int(gap)
