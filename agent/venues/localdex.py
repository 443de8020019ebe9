"""The local DEX: constant-product pools that quote the way Jupiter does, for offline use.

A quote gives the expected output, the threshold the fill will accept (the larger of the
signed min_out and the slippage threshold), and the price impact. A fill re-reads the
reserves inside the recording transaction and executes against them, exactly as a swap on
chain meets whatever state it lands on: if other trades moved the pool below the threshold,
the fill fails with slippage_exceeded, and the realised slippage is measured honestly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from agent.domain.amm import constant_product_out, rebalance_towards, slippage_threshold
from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import Token
from agent.pricing.oracle import PriceOracle, PriceUnavailable
from agent.store import pools as books
from agent.store.database import Store
from agent.venues.base import Fill, LegFailed

__all__ = ["LocalDexPool", "LocalDexVenue"]

# An AMM quote is not firm; it is only worth re-using for a short while.
QUOTE_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class LocalDexPool:
    id: str
    base: Token
    quote: Token
    fee_bps: int
    start_base: int
    start_quote: int
    rebalance_fraction: Decimal


class LocalDexVenue:
    name = "localdex"

    def __init__(self, pools: Sequence[LocalDexPool], oracle: PriceOracle) -> None:
        self.pools = {pool.id: pool for pool in pools}
        self._oracle = oracle
        self._reserves: dict[str, books.AmmReserves] = {}

    @property
    def reserves(self) -> dict[str, books.AmmReserves]:
        return dict(self._reserves)

    async def start(self, store: Store) -> None:
        async with store.transaction() as connection:
            for pool in self.pools.values():
                await books.seed_localdex_pool(
                    connection,
                    pool.id,
                    pool.base.mint,
                    pool.quote.mint,
                    pool.start_base,
                    pool.start_quote,
                    pool.fee_bps,
                )
        await self.refresh(store)

    async def refresh(self, store: Store) -> None:
        async with store.reading() as connection:
            loaded = await books.load_localdex_pools(connection)
        self._reserves = {k: v for k, v in loaded.items() if k in self.pools}

    def _orient(
        self, pool: LocalDexPool, reserves: books.AmmReserves, sell_mint: str
    ) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a trade selling `sell_mint` into the pool."""
        if sell_mint == pool.base.mint:
            return reserves.base, reserves.quote
        return reserves.quote, reserves.base

    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]:
        answers: list[Quote | QuoteMiss] = []
        for pool in self.pools.values():
            if {pool.base.mint, pool.quote.mint} != {request.sell_mint, request.buy_mint}:
                continue
            reserves = self._reserves.get(pool.id)
            if reserves is None:
                answers.append(QuoteMiss(self.name, pool.id, "not_loaded"))
                continue
            reserve_in, reserve_out = self._orient(pool, reserves, request.sell_mint)
            swap = constant_product_out(reserve_in, reserve_out, request.amount, pool.fee_bps)
            if swap.expected_out <= 0:
                answers.append(QuoteMiss(self.name, pool.id, "zero_output"))
                continue
            threshold = slippage_threshold(swap.expected_out, request.slippage_bps)
            if swap.expected_out >= request.min_out:
                threshold = max(threshold, request.min_out)
            answers.append(
                Quote(
                    venue=self.name,
                    source=pool.id,
                    amount_in=request.amount,
                    expected_out=swap.expected_out,
                    guaranteed_out=threshold,
                    fee_bps=Decimal(pool.fee_bps),
                    price_impact_bps=swap.price_impact_bps.quantize(Decimal("0.0001")),
                    quoted_at=now,
                    expires_at=now + QUOTE_TTL_S,
                    signatures=1,
                    firm=False,
                    price_source="pool",
                    details={"sell_mint": request.sell_mint},
                )
            )
        return answers

    async def prepare(self, quote: Quote) -> None:
        return None

    async def fill(self, connection: AsyncConnection, quote: Quote) -> Fill:
        pool = self.pools[quote.source]
        reserves = await books.lock_localdex(connection, pool.id)
        reserve_in, reserve_out = self._orient(pool, reserves, quote.details["sell_mint"])
        swap = constant_product_out(reserve_in, reserve_out, quote.amount_in, pool.fee_bps)
        if swap.expected_out < quote.guaranteed_out:
            raise LegFailed(
                Reason.SLIPPAGE_EXCEEDED,
                f"{pool.id} would pay {swap.expected_out}, "
                f"below the threshold {quote.guaranteed_out}",
            )
        new_in, new_out = swap.reserves_after
        if quote.details["sell_mint"] == pool.base.mint:
            base, quote_reserve = new_in, new_out
        else:
            base, quote_reserve = new_out, new_in
        if not await books.update_localdex(
            connection, pool.id, base, quote_reserve, reserves.version
        ):
            raise LegFailed(Reason.SLIPPAGE_EXCEEDED, f"{pool.id} moved during the fill")
        after = books.AmmReserves(pool.id, base, quote_reserve, reserves.version + 1)
        return Fill(quote=quote, realised_out=swap.expected_out, state_after=after)

    async def record_failure(
        self, connection: AsyncConnection, quote: Quote, reason: Reason
    ) -> None:
        return None

    def committed(self, fill: Fill) -> None:
        self._reserves[fill.quote.source] = fill.state_after

    async def rebalance(self, store: Store) -> None:
        """Arbitrageurs pull each pool part of the way back to the oracle price."""
        for pool in self.pools.values():
            try:
                base_usd = (await self._oracle.price(pool.base)).usd
                quote_usd = (await self._oracle.price(pool.quote)).usd
            except PriceUnavailable:
                continue
            target = (base_usd / quote_usd).scaleb(pool.quote.decimals - pool.base.decimals)
            async with store.transaction() as connection:
                reserves = await books.lock_localdex(connection, pool.id)
                base, quote_reserve = rebalance_towards(
                    reserves.base, reserves.quote, target, pool.rebalance_fraction
                )
                if (base, quote_reserve) != (reserves.base, reserves.quote):
                    await books.update_localdex(
                        connection, pool.id, base, quote_reserve, reserves.version
                    )
        await self.refresh(store)
