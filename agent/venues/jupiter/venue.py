"""Jupiter as a venue: quotes for the router, and verified swap transactions for the executor.

Quoting asks ``/quote`` (v1) or ``/swap/v2/build`` (v2, which also returns the instructions)
and never waits for request budget beyond ``max_budget_wait_s`` or the intent's deadline:
a budget-limited Jupiter sits the intent out, with the reason recorded, and the router
takes another venue. Errors become quote misses named by what happened (``no_route``,
``budget_exhausted``, ``rate_limited``, ``unavailable``, ``circuit_open``, ``bad_payload``,
``unauthorised``); a 401/403 switches the venue off until restart, because every further
request would be refused too. Building a leg's transaction is :mod:`.swaps`' job.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import structlog

from agent.domain.allocation import Curve
from agent.domain.impact import ImpactModel, Observation, VirtualPool
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.net import BadPayload
from agent.venues.books import PoolBooks
from agent.venues.jupiter.client import JupiterClient, SwapPlan
from agent.venues.jupiter.errors import (
    VENUE_ERRORS,
    NoRoute,
    Rejected,
    Unauthorised,
    error_kind,
)
from agent.venues.jupiter.models import QuoteResponse
from agent.venues.jupiter.swaps import (
    SIGNATURES,
    BuiltSwap,
    SwapBuilder,
    SwapOrder,
    SwapSettings,
    check_answers,
    swap_slippage_bps,
)
from onchain.cluster import Blockhash, Cluster

__all__ = [
    "BuiltSwap",
    "JupiterVenue",
    "SwapOrder",
    "SwapSettings",
    "error_kind",
    "swap_slippage_bps",
]

log = structlog.get_logger("agent.venues.jupiter")

VENUE = "jupiter"
PLANS_KEPT = 1_024


class JupiterVenue:
    name = VENUE

    def __init__(
        self,
        client: JupiterClient,
        settings: SwapSettings,
        *,
        lookup_cluster: Cluster | None = None,
        mainnet_mints: Mapping[str, str] | None = None,
        on_error: Callable[[str], None] = lambda _kind: None,
        on_refusal: Callable[[str], None] = lambda _check: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        # Jupiter knows mainnet mints only: off mainnet, each token is quoted and built under
        # its mainnet mint (a devnet intent for USDC is priced as mainnet USDC).
        self._mints = dict(mainnet_mints or {})
        self._on_error = on_error
        self._on_refusal = on_refusal
        self._clock = clock
        self.disabled: str | None = None  # why the venue is off (401/403), None while on
        # v2 quotes come with their instructions; kept for the leg until it is built.
        self._plans: OrderedDict[str, SwapPlan] = OrderedDict()
        self._impact = ImpactModel()
        # (sell, buy) mainnet mints -> (smallest amount with no route, when it was learned).
        self._no_route: dict[tuple[str, str], tuple[int, float]] = {}
        self._builder = SwapBuilder(
            client,
            settings,
            lookup_cluster=lookup_cluster,
            on_error=on_error,
            on_refusal=on_refusal,
            clock=clock,
        )

    @property
    def lookup_cluster(self) -> Cluster | None:
        """The mainnet RPC (jupiter.simulate_rpc) the swaps are resolved and simulated on."""
        return self._builder.lookup_cluster

    @property
    def up(self) -> bool:
        return self.disabled is None and self.client.breaker_state != "open"

    # --- quotes -------------------------------------------------------------------------------
    async def quote(self, request: QuoteRequest, now: float) -> list[Quote | QuoteMiss]:
        if self.disabled is not None:
            return [QuoteMiss(VENUE, VENUE, "unauthorised", self.disabled)]
        wait = max(0.0, min(self.settings.max_budget_wait_s, request.not_after - now))
        sell, buy = self._mint(request.sell_mint), self._mint(request.buy_mint)
        if sell is None or buy is None:
            return [QuoteMiss(VENUE, VENUE, "no_route", "the pair has no mainnet mint")]
        request = replace(request, sell_mint=sell, buy_mint=buy)
        if (remembered := self._known_unroutable(sell, buy, request.amount, now)) is not None:
            return [remembered]
        try:
            if self.client.api == "v2" and request.taker:
                plan = await self.client.swap_plan(
                    request.sell_mint, request.buy_mint, request.amount, request.taker,
                    request.slippage_bps, max_accounts=self.settings.max_accounts,
                    max_wait_s=wait,
                )  # fmt: skip
                response = plan.quote
            else:
                plan = None
                response = await self.client.quote(
                    request.sell_mint, request.buy_mint, request.amount, request.slippage_bps,
                    max_accounts=self.settings.max_accounts, max_wait_s=wait,
                )  # fmt: skip
            check_answers(response, request.sell_mint, request.buy_mint, request.amount)
        except NoRoute as error:
            self._remember_unroutable(sell, buy, _unroutable_from(error, request.amount), now)
            return [self._miss(error)]
        except VENUE_ERRORS as error:
            return [self._miss(error)]
        self._no_route.pop((sell, buy), None)  # routable again: forget what was learned
        quote = self._to_quote(response, now, request.min_out)
        if plan is not None:
            self._keep(quote, plan)
        return [quote]

    def _known_unroutable(self, sell: str, buy: str, amount: int, now: float) -> QuoteMiss | None:
        """A miss without a request when Jupiter recently had no route for this pair at this
        size or less: a larger trade of a pair it cannot route now would not route either, and
        asking again would spend request budget other intents need."""
        remembered = self._no_route.get((sell, buy))
        if remembered is None:
            return None
        smallest, learned_at = remembered
        age = now - learned_at
        # A clock that stepped back makes the memory unreliable: forget it.
        if not 0 <= age < self.settings.no_route_ttl_s:
            del self._no_route[(sell, buy)]
            return None
        if amount < smallest:
            return None
        return QuoteMiss(
            VENUE,
            VENUE,
            "no_route",
            f"no route for {smallest} or more {age:.0f} s ago; not asked again yet",
        )

    def _remember_unroutable(self, sell: str, buy: str, amount: int | None, now: float) -> None:
        if self.settings.no_route_ttl_s <= 0 or amount is None:
            return
        remembered = self._no_route.get((sell, buy))
        if remembered is None or now - remembered[1] >= self.settings.no_route_ttl_s:
            self._no_route[(sell, buy)] = (amount, now)
        else:
            self._no_route[(sell, buy)] = (min(amount, remembered[0]), remembered[1])

    def _mint(self, mint: str) -> str | None:
        return self._mints.get(mint) if self._mints else mint

    def _on_mainnet(self, order: SwapOrder) -> SwapOrder:
        sell, buy = self._mint(order.sell_mint), self._mint(order.buy_mint)
        assert sell is not None and buy is not None, "quoted, so both mints map"
        return replace(order, sell_mint=sell, buy_mint=buy)

    def _miss(self, error: Exception) -> QuoteMiss:
        kind = error_kind(error)
        self._on_error(kind)
        if isinstance(error, Unauthorised):
            self.disabled = str(error)
            log.error("jupiter_disabled", error=str(error))
        elif isinstance(error, BadPayload | Rejected):
            log.error("jupiter_bad_answer", kind=kind, error=str(error))
        return QuoteMiss(VENUE, VENUE, kind, str(error))

    def _to_quote(self, response: QuoteResponse, now: float, min_out: int) -> Quote:
        labels = [step.swap_info.label for step in response.route_plan]
        fee_bps = response.platform_fee.fee_bps if response.platform_fee else 0
        slippage = swap_slippage_bps(response.out_amount, min_out, response.slippage_bps)
        guaranteed = response.other_amount_threshold
        if slippage != response.slippage_bps:
            guaranteed = response.out_amount * (10_000 - slippage) // 10_000
        return Quote(
            venue=VENUE,
            source=VENUE,
            amount_in=response.in_amount,
            expected_out=response.out_amount,
            guaranteed_out=guaranteed,
            fee_bps=Decimal(fee_bps),
            price_impact_bps=(response.price_impact_pct * 10_000).quantize(Decimal("0.0001")),
            quoted_at=now,
            expires_at=now + self.settings.quote_ttl_s,
            signatures=SIGNATURES,
            firm=False,
            price_source="jupiter",
            details={
                "route": " + ".join(dict.fromkeys(labels)) or "direct",
                "slippage_bps": str(slippage),
                "context_slot": str(response.context_slot or ""),
                "quote_response": json.dumps(response.raw, separators=(",", ":")),
            },
        )

    def _keep(self, quote: Quote, plan: SwapPlan) -> None:
        self._plans[_plan_key(quote)] = plan
        while len(self._plans) > PLANS_KEPT:
            self._plans.popitem(last=False)

    async def curves(
        self, request: QuoteRequest, quotes: Sequence[Quote], now: float
    ) -> list[Curve]:
        """Jupiter at other sizes, estimated from its full-size quote (and recent quotes of the
        pair) with the impact model; a size chosen from it is confirmed by one real quote.
        A Jupiter leg's threshold is tightened to its share of min_out, so what it can be held
        to is its expected output."""
        pair = (request.sell_mint, request.buy_mint)
        curves = []
        for quote in quotes:
            if quote.venue != VENUE or quote.amount_in != request.amount:
                continue
            pool = self._impact.curve(
                pair, now, quote.amount_in, quote.expected_out, quote.price_impact_bps / 10_000
            )
            self._impact.observe(pair, Observation(now, quote.amount_in, quote.expected_out))
            curves.append(_estimated_curve(pool, quote))
        return curves

    # --- fills (Jupiter keeps no book here: its liquidity is on chain) -----------------------
    async def prepare(self, quote: Quote) -> None:
        return None

    def lock(self, books: PoolBooks, pool_ids: Iterable[str]) -> dict[str, tuple[()]]:
        return dict.fromkeys(pool_ids, ())

    def apply(self, book: tuple[()], quote: Quote) -> tuple[tuple[()], int]:
        # Planned at the expected output; dry-run and send measure what the swap delivers.
        return book, quote.expected_out

    def revert(self, book: tuple[()], quote: Quote, realised_out: int) -> tuple[()]:
        return book

    def save(
        self,
        books: PoolBooks,
        before: Mapping[str, tuple[()]],
        after: Mapping[str, tuple[()]],
        fills: Mapping[str, int],
        declines: Mapping[str, int],
    ) -> None:
        return None

    def committed(self, after: Mapping[str, tuple[()]]) -> None:
        return None

    # --- transactions -------------------------------------------------------------------------
    async def build_swap(self, quote: Quote, order: SwapOrder, fallback: Blockhash) -> BuiltSwap:
        """The leg's swap, verified and compiled (see :class:`SwapBuilder`); raises LegFailed."""
        plan = self._plans.pop(_plan_key(quote), None)
        return await self._builder.build(quote, self._on_mainnet(order), fallback, plan)

    # --- transactions -------------------------------------------------------------------------


def _estimated_curve(pool: VirtualPool, quote: Quote) -> Curve:
    def outputs(size: int) -> tuple[int, int] | None:
        out = quote.expected_out if size == quote.amount_in else pool.out(size)
        return (out, out) if out > 0 else None

    return Curve(VENUE, quote.source, 1, quote.amount_in, outputs)


def _plan_key(quote: Quote) -> str:
    return f"{quote.amount_in}:{quote.expected_out}:{quote.quoted_at}:{quote.details.get('context_slot')}"


# Codes that mean the pair cannot be routed at this size for want of liquidity: a larger trade
# cannot be routed either. Codes that mean the pair is not routable at all, at any size.
_SIZE_BOUND = frozenset(
    {"NO_ROUTES_FOUND", "COULD_NOT_FIND_ANY_ROUTE", "ROUTE_PLAN_DOES_NOT_CONSUME_ALL_THE_AMOUNT"}
)
_PAIR_WIDE = frozenset({"TOKEN_NOT_TRADABLE", "MARKET_NOT_FOUND", "CIRCULAR_ARBITRAGE_IS_DISABLED"})


def _unroutable_from(error: NoRoute, amount: int) -> int | None:
    """The smallest size a no-route answer rules out, or None when it says nothing about
    other sizes (a dust amount whose threshold cannot be computed, say)."""
    if error.code in _PAIR_WIDE:
        return 0
    if error.code in _SIZE_BOUND:
        return amount
    return None
