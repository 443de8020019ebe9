"""Router v1: the best single venue by net output, subject to the signed min_out.

Net output is the venue's expected output less what the wallet pays the network for the
fill, in units of the bought token. A quote is eligible only when what the venue is held to
(its guaranteed output) meets min_out and the quote is still valid. Every candidate keeps a
verdict, so a decision can always be explained after the fact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote, QuoteMiss

__all__ = ["Candidate", "Decision", "Verdict", "decide_single_venue", "savings_bps"]


class Verdict(StrEnum):
    CHOSEN = "chosen"
    LOWER_NET_OUTPUT = "lower_net_output"
    BELOW_MIN_OUT = "below_min_out"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Candidate:
    quote: Quote
    network_cost_out: int
    net_out: int
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Decision:
    # Eligible candidates, best first: the executor falls back down this list if a fill fails.
    ranked: tuple[Candidate, ...]
    candidates: tuple[Candidate, ...]
    misses: tuple[QuoteMiss, ...]
    reason: Reason | None  # None when a venue was chosen
    # The legs the router plans to fill (a split has several), each quoted at its own size;
    # empty: the best single venue, `chosen`, for the whole amount.
    split: tuple[Candidate, ...] = ()
    considered: int = 0  # allocations the solver evaluated to reach `split` (explainability)

    @property
    def chosen(self) -> Candidate | None:
        """The best single venue for the whole amount."""
        return self.ranked[0] if self.ranked else None

    def best_of(self, venue: str) -> Candidate | None:
        """The venue's best full-size quote that could have filled (valid, meeting min_out),
        by net output: a baseline the wallet could really have had."""
        return next((c for c in self.ranked if c.quote.venue == venue), None)

    @property
    def planned(self) -> tuple[Candidate, ...]:
        """What the router decided to fill: the split's legs, or the best single venue."""
        if self.split:
            return self.split
        return (self.ranked[0],) if self.ranked else ()

    @property
    def runner_up(self) -> Candidate | None:
        """The best other quote that could have filled (valid, meeting min_out): what the
        wallet would really have got elsewhere. A quote below min_out is no alternative."""
        return self.ranked[1] if len(self.ranked) > 1 else None


def _rank_key(candidate: Candidate) -> tuple[int, int, int, str, str]:
    quote = candidate.quote
    # Ties go to the higher guarantee, then to a firm quote, then to a stable name order.
    return (-candidate.net_out, -quote.guaranteed_out, 0 if quote.firm else 1, quote.venue,
            quote.source)  # fmt: skip


def decide_single_venue(
    quotes: Sequence[Quote],
    misses: Sequence[QuoteMiss],
    *,
    min_out: int,
    network_cost_out: Callable[[Quote], int],
    now: float,
) -> Decision:
    scored: list[tuple[Quote, int, int]] = []
    for quote in quotes:
        cost = network_cost_out(quote)
        scored.append((quote, cost, quote.expected_out - cost))
    eligible: list[Candidate] = []
    rejected: list[Candidate] = []
    for quote, cost, net in scored:
        if quote.expires_at <= now:
            rejected.append(Candidate(quote, cost, net, Verdict.EXPIRED))
        elif quote.guaranteed_out < min_out or quote.expected_out < min_out:
            rejected.append(Candidate(quote, cost, net, Verdict.BELOW_MIN_OUT))
        else:
            eligible.append(Candidate(quote, cost, net, Verdict.LOWER_NET_OUTPUT))
    eligible.sort(key=_rank_key)
    if eligible:
        first = eligible[0]
        eligible[0] = Candidate(first.quote, first.network_cost_out, first.net_out, Verdict.CHOSEN)
        reason = None
    else:
        reason = Reason.MIN_OUT_UNREACHABLE if quotes else Reason.NO_ROUTE
    return Decision(
        ranked=tuple(eligible),
        candidates=tuple(eligible + rejected),
        misses=tuple(misses),
        reason=reason,
    )


def savings_bps(chosen_out: int, baseline_out: int) -> Decimal:
    """How much better `chosen_out` is than `baseline_out`, in basis points of the baseline."""
    if baseline_out <= 0:
        return Decimal(0)
    return (Decimal(chosen_out - baseline_out) * 10_000 / Decimal(baseline_out)).quantize(
        Decimal("0.01")
    )
