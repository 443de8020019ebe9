"""What one outcome contributes to the metrics: pure arithmetic on its recorded legs, no I/O.

Kept apart from :mod:`agent.metrics.catalog` so the figures (USD volume, quoted slippage against the
oracle mid, size buckets) are tested as tables, and the metrics layer only labels and counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from agent.domain.outcomes import Reason
from agent.domain.policy import TradeTerms
from agent.ledger.leg_reports import LegReport

__all__ = ["LegFigures", "leg_figures", "pair_label", "size_bucket", "utilisation"]

# Upper bounds (exclusive) of the trade-size buckets, in USD notional, and their labels. The
# seed bucketed by SOL (0-100, 100-500, ...); USD buckets compare across pairs.
SIZE_BUCKETS: tuple[tuple[Decimal, str], ...] = (
    (Decimal(1_000), "0-1k"),
    (Decimal(10_000), "1k-10k"),
    (Decimal(100_000), "10k-100k"),
)
LARGEST_SIZE = "100k+"
SIZE_LABELS = (*(label for _, label in SIZE_BUCKETS), LARGEST_SIZE)


def size_bucket(notional_usd: Decimal) -> str:
    for bound, label in SIZE_BUCKETS:
        if notional_usd < bound:
            return label
    return LARGEST_SIZE


def utilisation(held: int, target: int) -> Decimal:
    """Share of a pool side's target inventory paid out: 0 at or above target, 1 when empty."""
    if target <= 0:
        return Decimal(0)
    return min(Decimal(1), max(Decimal(0), 1 - Decimal(held) / target))


def pair_label(terms: TradeTerms) -> str:
    """Sold and bought symbols ("SOL/USDC"): bounded, since both come from the token list."""
    return f"{terms.sell.symbol}/{terms.buy.symbol}"


@dataclass(frozen=True, slots=True)
class LegFigures:
    venue: str
    source: str  # the pool or route that quoted
    pair: str
    status: str
    size: str
    # Only for filled legs of an intent whose terms are known:
    volume_usd: Decimal | None
    # Quoted output short of the oracle mid for the leg's share (None without a mid).
    quoted_slippage_bps: Decimal | None
    price_impact_bps: Decimal | None
    realised_slippage_bps: Decimal | None
    fee_lamports: int | None  # of a filled leg's settlement (simulated in dry-run)
    units_consumed: int | None
    # What the fill asked of the venue came to: filled, declined (last look) or failed;
    # None while it is still executing or was only built.
    pool_result: str | None


def leg_figures(terms: TradeTerms | None, legs: Sequence[LegReport]) -> list[LegFigures]:
    """One entry per leg. Without terms (an outcome read back from SQL) only the venue and
    status are known, so the trade figures stay None rather than being guessed."""
    pair = pair_label(terms) if terms is not None else "unknown"
    size = size_bucket(terms.notional_usd) if terms is not None else "unknown"
    figures = []
    for leg in legs:
        filled = leg.status == "filled"
        chain = leg.chain or {}
        figures.append(
            LegFigures(
                venue=leg.venue,
                source=leg.source,
                pair=pair,
                status=leg.status,
                size=size,
                volume_usd=_volume_usd(terms, leg) if filled else None,
                quoted_slippage_bps=_quoted_slippage_bps(terms, leg) if filled else None,
                price_impact_bps=leg.price_impact_bps if filled else None,
                realised_slippage_bps=leg.realised_slippage_bps,
                fee_lamports=_int_or_none(chain.get("fee_lamports")) if filled else None,
                units_consumed=_int_or_none(chain.get("units_consumed")),
                pool_result=_attempt_result(leg),
            )
        )
    return figures


def _attempt_result(leg: LegReport) -> str | None:
    if leg.status == "filled":
        return "filled"
    if leg.status == "failed" and leg.reason == Reason.LAST_LOOK_REJECTED.value:
        return "declined"
    if leg.status in ("failed", "cancelled"):
        return "failed"
    return None


def _volume_usd(terms: TradeTerms | None, leg: LegReport) -> Decimal | None:
    if terms is None or terms.amount <= 0:
        return None
    return terms.notional_usd * leg.amount_in / terms.amount


def _quoted_slippage_bps(terms: TradeTerms | None, leg: LegReport) -> Decimal | None:
    """(mid output of the leg's share - quoted output) / mid output, in bps."""
    if terms is None or terms.amount <= 0 or terms.reference_out <= 0:
        return None
    mid_out = Decimal(terms.reference_out) * leg.amount_in / terms.amount
    if mid_out <= 0:
        return None
    return (mid_out - leg.expected_out) * 10_000 / mid_out


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
