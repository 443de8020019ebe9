"""Before a plan's legs are reserved: each maker's last look, each API-built swap verified.

A leg that declines here fails alone (``LegFailed`` names its quote); the pipeline leaves its
venue out and re-plans the rest. Nothing here touches the books or signs anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote
from agent.domain.routing import Candidate
from agent.ledger.plans import Plan
from agent.pipeline.deadlines import DeadlineWaiter, TimedOut
from agent.pipeline.legs import Routing
from agent.settlement.executor import ChainExecutor
from agent.venues.base import LegFailed, Venue
from agent.venues.jupiter.swaps import BuiltSwap
from agent.venues.jupiter.venue import JupiterVenue, SwapOrder

__all__ = ["failed_leg", "place", "prepare_legs", "shares_for", "swap_order"]


async def prepare_legs(
    plan: Plan,
    legs: list[Candidate],
    shares: list[int],
    *,
    venues: Mapping[str, Venue],
    executor: ChainExecutor | None,
    waiter: DeadlineWaiter,
    now: float,
) -> tuple[list[Candidate], dict[int, BuiltSwap]]:
    """Last look at each maker, and each API-built swap verified, before anything commits."""
    for candidate in legs:
        if candidate.quote.expires_at < now:
            raise LegFailed(
                Reason.QUOTE_EXPIRED, "the quote expired before the fill", candidate.quote
            )
    prepared: list[Candidate] = []
    swaps: dict[int, BuiltSwap] = {}
    for index, candidate in enumerate(legs):
        venue = venues[candidate.quote.venue]
        try:
            await venue.prepare(candidate.quote)
            if executor is not None:
                if plan.blockhash is None:
                    plan.blockhash = await executor.blockhash()
                if isinstance(venue, JupiterVenue):
                    order = swap_order(plan, candidate.quote, shares[index])
                    swaps[index] = await _build_in_time(waiter, venue, candidate.quote, order, plan)
                    candidate = replace(candidate, quote=swaps[index].quote)
        except LegFailed as declined:
            raise LegFailed(declined.reason, declined.detail, candidate.quote) from None
        prepared.append(candidate)
    return prepared, swaps


async def _build_in_time(
    waiter: DeadlineWaiter, venue: JupiterVenue, quote: Quote, order: SwapOrder, plan: Plan
) -> BuiltSwap:
    """The leg's swap, built while the intent still has time (else the leg fails alone)."""
    assert plan.intent is not None and plan.blockhash is not None
    try:
        return await waiter.until(
            venue.build_swap(quote, order, plan.blockhash), plan.intent.not_after
        )
    except TimedOut as late:
        raise LegFailed(Reason.DEADLINE_PASSED, f"building the swap: {late}", quote) from None


def swap_order(plan: Plan, quote: Quote, min_out: int) -> SwapOrder:
    """What the signed intent authorises for one swap leg: its input, its share of min_out."""
    assert plan.intent is not None and plan.terms is not None
    return SwapOrder(
        wallet=plan.intent.wallet,
        sell_mint=plan.terms.sell.mint,
        buy_mint=plan.terms.buy.mint,
        amount_in=quote.amount_in,
        min_out=min_out,
        max_slippage_bps=plan.terms.slippage_bps,
    )


def place(candidate: Candidate) -> tuple[str, str]:
    return candidate.quote.venue, candidate.quote.source


def failed_leg(legs: list[Candidate], failed: LegFailed) -> Candidate:
    """The leg a failure names (the first leg when it names none)."""
    for candidate in legs:
        if failed.quote is not None and candidate.quote == failed.quote:
            return candidate
    return legs[0]


def shares_for(routing: Routing, legs: list[Candidate], min_out: int) -> list[int]:
    """The shares the planner gave these legs; a single fallback venue is held to all."""
    if routing.shares and len(routing.shares) == len(legs):
        return routing.shares
    return [min_out] + [0] * (len(legs) - 1)
