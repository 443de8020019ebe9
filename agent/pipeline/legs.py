"""From an allocation to fillable legs: each leg quoted at its own size, held to its share.

The router decides on curves (exact for the local venues, estimated for Jupiter); before
anything is reserved, every leg of a split gets a real quote at its size from its venue
(for Jupiter that is the one confirming request), and a leg whose quote cannot be held to
its share of the signed min_out is left out and the rest re-allocated. A leg for the whole
amount reuses the full-size quote already in hand.

No venue may hold an intent past its deadline: a venue that has not answered
:data:`~agent.pipeline.deadlines.DEADLINE_MARGIN_S` before the intent's ``not_after`` misses with
``deadline``, which leaves the pipeline time to decide and record the intent before it expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import structlog

from agent.domain.allocation import Allocation, Curve, Leg, min_out_shares
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.router import Router
from agent.domain.routing import Candidate, Verdict
from agent.pipeline.deadlines import DeadlineWaiter, TimedOut, seconds_left
from agent.venues.base import Venue

__all__ = ["FIRM_VENUES", "LegPlanner", "Routing", "leg_shares", "quote_in_time"]

log = structlog.get_logger("agent.legs")

# A split is re-planned at most this often when legs cannot be quoted at their size.
MAX_REPLANS = 4
# Venues whose quotes are firm: a fill delivers exactly the quote.
FIRM_VENUES = frozenset({"otc"})


@dataclass
class Routing:
    """One intent's routing inputs: its request, every full-size answer and every curve."""

    request: QuoteRequest
    quotes: list[Quote]
    misses: list[QuoteMiss]
    curves: list[Curve]
    cost_out: Callable[[Quote], int]  # a quote's network cost in the bought token
    leg_cost_out: Callable[[str], int]  # a venue's per-leg network cost in the bought token
    allocation: Allocation | None = None
    shares: list[int] = field(default_factory=list)  # of the legs last returned
    excluded: set[tuple[str, str]] = field(default_factory=set)

    @property
    def pair(self) -> tuple[str, str]:
        return self.request.sell_mint, self.request.buy_mint


def leg_shares(legs: Sequence[Leg], min_out: int) -> list[int]:
    """Each leg's share of the signed min_out, firm quotes first.

    A firm RFQ leg delivers exactly its quote, so it is held to all of it; what is left of
    min_out is spread over the AMM legs in proportion to their output, which leaves them the
    widest slippage tolerance the signed minimum allows.
    """
    shares = [0] * len(legs)
    left = min_out
    for index, leg in enumerate(legs):
        if leg.venue in FIRM_VENUES:
            shares[index] = min(leg.guaranteed_out, left)
            left -= shares[index]
    rest = [i for i, leg in enumerate(legs) if leg.venue not in FIRM_VENUES]
    if rest and left > 0:
        for index, share in zip(rest, min_out_shares([legs[i] for i in rest], left), strict=True):
            shares[index] = share
    return shares


async def quote_in_time(
    waiter: DeadlineWaiter, venue: Venue, request: QuoteRequest, now: float
) -> list[Quote | QuoteMiss]:
    """The venue's answers to ``request``, or a ``deadline`` miss when it has not answered in
    the time the intent has left (``now`` is the wall clock)."""
    try:
        return await waiter.within(venue.quote(request, now), seconds_left(request.not_after, now))
    except TimedOut as late:
        return [QuoteMiss(venue.name, venue.name, "deadline", str(late))]


def _reraise_cancellation(error: BaseException) -> None:
    if not isinstance(error, Exception):
        raise error


class LegPlanner:
    def __init__(self, venues: Mapping[str, Venue], router: Router, waiter: DeadlineWaiter) -> None:
        self.venues = venues
        self.router = router
        self.waiter = waiter

    async def gather(
        self, request: QuoteRequest, names: Sequence[str], now: float
    ) -> tuple[list[Quote], list[QuoteMiss], list[Curve]]:
        """Every venue's full-size answers, then its curves (concurrently per stage)."""
        venues = [self.venues[name] for name in names if name in self.venues]
        answers = await asyncio.gather(
            *(quote_in_time(self.waiter, venue, request, now) for venue in venues),
            return_exceptions=True,
        )
        quotes: list[Quote] = []
        misses: list[QuoteMiss] = []
        for venue, answer in zip(venues, answers, strict=True):
            if isinstance(answer, BaseException):
                # One venue's failure must not take the intent down: it sits this one out.
                _reraise_cancellation(answer)
                log.error("venue_quote_failed", venue=venue.name, error=repr(answer))
                misses.append(QuoteMiss(venue.name, venue.name, "venue_error", repr(answer)))
                continue
            quotes += [a for a in answer if isinstance(a, Quote)]
            misses += [a for a in answer if isinstance(a, QuoteMiss)]
        per_venue = await asyncio.gather(
            *(
                venue.curves(request, [q for q in quotes if q.venue == venue.name], now)
                for venue in venues
            ),
            return_exceptions=True,
        )
        curves: list[Curve] = []
        for venue, found in zip(venues, per_venue, strict=True):
            if isinstance(found, BaseException):
                _reraise_cancellation(found)
                log.error("venue_curves_failed", venue=venue.name, error=repr(found))
                continue
            curves += found
        return quotes, misses, curves

    async def legs(self, routing: Routing, now: float) -> list[Candidate]:
        """The legs to fill now, each quoted at its size; [] when no allocation meets min_out.

        Legs that cannot be quoted (or held to their share) are added to ``excluded``, their
        reason to ``misses``, and the rest re-allocated.
        """
        request = routing.request
        routing.shares = []
        for _ in range(MAX_REPLANS):
            allocation = self.router.allocate(
                routing.curves,
                pair=routing.pair,
                amount=request.amount,
                min_out=request.min_out,
                leg_cost_out=routing.leg_cost_out,
                now=now,
                excluded=frozenset(routing.excluded),
            )
            routing.allocation = allocation
            if allocation is None:
                return []
            shares = leg_shares(allocation.legs, request.min_out)
            candidates: list[Candidate] = []
            for leg, share in zip(allocation.legs, shares, strict=True):
                quote = await self._quote_at(
                    routing, leg.venue, leg.source, leg.amount_in, share, now
                )
                if quote is None:
                    break
                cost = routing.cost_out(quote)
                candidates.append(Candidate(quote, cost, quote.expected_out - cost, Verdict.CHOSEN))
            else:
                routing.shares = shares
                return candidates
        return []

    async def _quote_at(
        self, routing: Routing, venue_name: str, source: str, size: int, share: int, now: float
    ) -> Quote | None:
        place = (venue_name, source)
        request = routing.request
        if size == request.amount:
            for quote in routing.quotes:
                usable = quote.expires_at > now and quote.guaranteed_out >= share
                if (quote.venue, quote.source) == place and usable:
                    return quote
        sized = replace(request, amount=size, min_out=share)
        try:
            answers = await quote_in_time(self.waiter, self.venues[venue_name], sized, now)
        except Exception as error:  # one venue's bug must not take the intent down
            log.error("venue_quote_failed", venue=venue_name, error=repr(error))
            answers = [QuoteMiss(venue_name, source, "venue_error", repr(error))]
        for answer in answers:
            if (answer.venue, answer.source) != place:
                continue
            if isinstance(answer, QuoteMiss):
                routing.misses.append(answer)
            elif answer.guaranteed_out < share:
                routing.misses.append(
                    QuoteMiss(
                        venue_name, source, "below_share", f"{answer.guaranteed_out} < {share}"
                    )
                )
            else:
                return answer
            break
        else:
            routing.misses.append(QuoteMiss(venue_name, source, "no_quote_at_size", str(size)))
        routing.excluded.add(place)
        return None
