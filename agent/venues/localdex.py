"""The local DEX: constant-product pools that quote the way Jupiter does, for offline use.

A quote gives the expected output, the threshold the fill will accept (the larger of the
signed min_out and the slippage threshold), and the price impact. A fill re-reads the
reserves inside the recording transaction and executes against them, exactly as a swap on
chain meets whatever state it lands on: if other trades moved the pool below the threshold,
the fill fails with slippage_exceeded, and the realised slippage is measured honestly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.domain.allocation import Curve
from agent.domain.amm import (
    AmmReserves,
    constant_product_amounts,
    constant_product_out,
    rebalance_towards,
    slippage_threshold,
)
from agent.domain.outcomes import Reason
from agent.domain.prices import PriceOracle, PriceUnavailable
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.tokens import Token
from agent.venues.base import LegFailed
from agent.venues.books import BookKeeper, PoolBooks

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
        self._reserves: dict[str, AmmReserves] = {}

    @property
    def reserves(self) -> dict[str, AmmReserves]:
        return dict(self._reserves)

    async def start(self, keeper: BookKeeper) -> None:
        await keeper.write(self._seed)
        await self.refresh(keeper)

    def _seed(self, books: PoolBooks) -> None:
        for pool in self.pools.values():
            books.seed_localdex_pool(
                pool.id,
                pool.base.mint,
                pool.quote.mint,
                pool.start_base,
                pool.start_quote,
                pool.fee_bps,
            )

    async def refresh(self, keeper: BookKeeper) -> None:
        loaded = await keeper.read(_load_localdex)
        self._reserves = {k: v for k, v in loaded.items() if k in self.pools}

    def _orient(self, pool: LocalDexPool, reserves: AmmReserves, sell_mint: str) -> tuple[int, int]:
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
            if reserve_in <= 0 or reserve_out <= 0:
                answers.append(QuoteMiss(self.name, pool.id, "drained"))
                continue
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
                    # Settled by the pool's vault authority and the taker: two signatures.
                    signatures=2,
                    firm=False,
                    price_source="pool",
                    details={"sell_mint": request.sell_mint},
                )
            )
        return answers

    async def curves(
        self, request: QuoteRequest, quotes: Sequence[Quote], now: float
    ) -> list[Curve]:
        """Each pool of the pair as an exact function of size on its current reserves. The
        threshold of a fill is set to its share of min_out, so what a leg can be held to is
        its expected output."""
        curves = []
        for pool in self.pools.values():
            if {pool.base.mint, pool.quote.mint} != {request.sell_mint, request.buy_mint}:
                continue
            reserves = self._reserves.get(pool.id)
            if reserves is None:
                continue
            reserve_in, reserve_out = self._orient(pool, reserves, request.sell_mint)
            if reserve_in <= 0 or reserve_out <= 0:
                continue  # a drained pool has no curve
            curves.append(_pool_curve(pool.id, reserve_in, reserve_out, pool.fee_bps, request))
        return curves

    async def prepare(self, quote: Quote) -> None:
        return None

    def lock(self, books: PoolBooks, pool_ids: Iterable[str]) -> dict[str, AmmReserves]:
        return books.lock_localdex_pools(pool_ids)

    def apply(self, book: AmmReserves, quote: Quote) -> tuple[AmmReserves, int]:
        """Swap against the reserves as they are now; below the quote's threshold it fails."""
        pool = self.pools[quote.source]
        sell_mint = quote.details["sell_mint"]
        reserve_in, reserve_out = self._orient(pool, book, sell_mint)
        swap = constant_product_out(reserve_in, reserve_out, quote.amount_in, pool.fee_bps)
        if swap.expected_out < quote.guaranteed_out:
            raise LegFailed(
                Reason.SLIPPAGE_EXCEEDED,
                f"{pool.id} would pay {swap.expected_out}, below the threshold {quote.guaranteed_out}",
            )
        new_in, new_out = swap.reserves_after
        if sell_mint == pool.base.mint:
            return AmmReserves(pool.id, new_in, new_out, book.version), swap.expected_out
        return AmmReserves(pool.id, new_out, new_in, book.version), swap.expected_out

    def revert(self, book: AmmReserves, quote: Quote, realised_out: int) -> AmmReserves:
        """Undo a reserved swap whose transaction did not land (token amounts, exactly)."""
        pool = self.pools[quote.source]
        if quote.details["sell_mint"] == pool.base.mint:
            return AmmReserves(
                pool.id, book.base - quote.amount_in, book.quote + realised_out, book.version
            )
        return AmmReserves(
            pool.id, book.base + realised_out, book.quote - quote.amount_in, book.version
        )

    def save(
        self,
        books: PoolBooks,
        before: Mapping[str, AmmReserves],
        after: Mapping[str, AmmReserves],
        fills: Mapping[str, int],
        declines: Mapping[str, int],
    ) -> None:
        books.save_localdex_pools(before, after)

    def committed(self, after: Mapping[str, AmmReserves]) -> None:
        for pool_id, state in after.items():
            self._reserves[pool_id] = AmmReserves(
                pool_id, state.base, state.quote, state.version + 1
            )

    async def rebalance(self, keeper: BookKeeper) -> None:
        """Arbitrageurs pull each pool part of the way back to the oracle price."""
        targets = {}
        for pool in self.pools.values():
            try:
                base_usd = (await self._oracle.price(pool.base)).usd
                quote_usd = (await self._oracle.price(pool.quote)).usd
            except PriceUnavailable:
                continue
            targets[pool.id] = (base_usd / quote_usd).scaleb(
                pool.quote.decimals - pool.base.decimals
            )
        await keeper.write(self._rebalance, targets)
        await self.refresh(keeper)

    def _rebalance(self, books: PoolBooks, targets: Mapping[str, Decimal]) -> None:
        before = books.lock_localdex_pools(targets)
        after = {}
        for pool_id, reserves in before.items():
            base, quote_reserve = rebalance_towards(
                reserves.base,
                reserves.quote,
                targets[pool_id],
                self.pools[pool_id].rebalance_fraction,
            )
            if (base, quote_reserve) != (reserves.base, reserves.quote):
                after[pool_id] = AmmReserves(pool_id, base, quote_reserve, reserves.version)
        books.save_localdex_pools(before, after)


def _pool_curve(
    pool_id: str, reserve_in: int, reserve_out: int, fee_bps: int, request: QuoteRequest
) -> Curve:
    amount_out = constant_product_amounts(reserve_in, reserve_out, fee_bps)

    def outputs(size: int) -> tuple[int, int] | None:
        out = amount_out(size)
        return (out, out) if out > 0 else None

    return Curve("localdex", pool_id, 1, request.amount, outputs)


def _load_localdex(books: PoolBooks) -> dict[str, AmmReserves]:
    return books.load_localdex_pools()
