"""Implementation shortfall: what a trade cost against the market when its intent arrived.

All amounts are base units of the bought token; the arrival mid converts the sold amount into
what it was worth then (``arrival_out``). The shortfall, in bps of that arrival value, splits
exactly into four parts, each measured against the one before:

- spread and impact: the decided quote's output against the arrival value;
- delay: the quote the fill was made on against the decided one (last-look declines,
  re-plans and re-quotes between the decision and the fill);
- slippage: the output the chain delivered against that quote;
- costs: what the wallet paid besides (network and priority fees, tips, rent, venue fees
  charged outside the quote), valued in the bought token at the arrival mid.

A positive figure is a cost to the wallet; a negative one, a gain (a quote above the mid). The
parts add up to the total by construction (the identity is arithmetic, not a measurement);
each part is measured on its own from what the decision, the fill and the chain recorded.

A fill of a firm RFQ quote has no slippage by contract: its part is reported as ``None``
(firm) rather than a measured 0, unless the chain delivered something else, which is then
measured like any other leg's. Pure arithmetic: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "Arrival",
    "LegExecution",
    "Shortfall",
    "arrival_mid",
    "arrival_out",
    "intent_shortfall",
    "leg_shortfall",
]

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Arrival:
    """The market when an intent was read: the oracle's mid for its pair, where it came from
    and how old it was then."""

    mid: Decimal  # bought-token base units per sold-token base unit
    source: str  # "<sell source>/<buy source>", e.g. "kraken/static"
    age_s: Decimal  # the older of the two prices' ages when the intent was read
    # Bought-token base units per lamport, to value network fees; None without a SOL price.
    lamport_mid: Decimal | None = None


def arrival_mid(
    sell_usd: Decimal, sell_decimals: int, buy_usd: Decimal, buy_decimals: int
) -> Decimal:
    """The pair's mid in base units: what one base unit of the sold token is worth in base
    units of the bought one, from the two USD prices."""
    if not (sell_usd.is_finite() and buy_usd.is_finite()) or sell_usd <= 0 or buy_usd <= 0:
        raise ValueError(f"prices must be positive and finite, got {sell_usd} and {buy_usd}")
    return (sell_usd / buy_usd).scaleb(buy_decimals - sell_decimals)


@dataclass(frozen=True, slots=True)
class LegExecution:
    """One leg as decided, filled and delivered."""

    amount_in: int  # sold, base units of the sold token
    decided_out: int  # the decided allocation's expected output for this leg
    quoted_out: int  # the expected output of the quote the fill was made on
    delivered_out: int | None  # what the chain delivered; None: nothing was delivered
    costs_out: Decimal  # everything paid besides the quote, in bought-token base units
    firm: bool = False  # a firm RFQ quote: fills at its price by contract

    def __post_init__(self) -> None:
        if self.amount_in <= 0:
            raise ValueError(f"amount_in must be positive, got {self.amount_in}")
        if min(self.decided_out, self.quoted_out) < 0 or (self.delivered_out or 0) < 0:
            raise ValueError("outputs cannot be negative")
        if self.costs_out < 0:
            raise ValueError(f"costs_out cannot be negative, got {self.costs_out}")


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Implementation shortfall in bps of the arrival value, and its parts (exact Decimals)."""

    arrival_out: Decimal  # what the sold amount was worth at the arrival mid
    spread_impact_bps: Decimal
    delay_bps: Decimal
    slippage_bps: Decimal | None  # None: only firm fills, delivered as quoted
    costs_bps: Decimal
    total_bps: Decimal


def arrival_out(amount_in: int, mid: Decimal) -> Decimal:
    """The sold amount at the arrival mid (bought-token base units per sold-token base unit)."""
    if not mid.is_finite() or mid <= 0:
        raise ValueError(f"the arrival mid must be positive and finite, got {mid}")
    return Decimal(amount_in) * mid


def leg_shortfall(leg: LegExecution, mid: Decimal) -> Shortfall | None:
    """One delivered leg's shortfall against the arrival mid; None when nothing was delivered."""
    return intent_shortfall([leg], mid)


def intent_shortfall(legs: Sequence[LegExecution], mid: Decimal) -> Shortfall | None:
    """The delivered legs' shortfall together, in bps of their arrival value; legs that
    delivered nothing are left out (the caller reports them as unfilled, with their reason).
    None when no leg delivered."""
    delivered = [leg for leg in legs if leg.delivered_out is not None]
    if not delivered:
        return None
    value = arrival_out(sum(leg.amount_in for leg in delivered), mid)
    decided = sum(leg.decided_out for leg in delivered)
    quoted = sum(leg.quoted_out for leg in delivered)
    got = sum(leg.delivered_out or 0 for leg in delivered)
    costs = sum((leg.costs_out for leg in delivered), Decimal(0))
    spread_impact = (value - decided) * _BPS / value
    delay = Decimal(decided - quoted) * _BPS / value
    slippage = Decimal(quoted - got) * _BPS / value
    cost = costs * _BPS / value
    firm_as_quoted = all(leg.firm and leg.delivered_out == leg.quoted_out for leg in delivered)
    return Shortfall(
        arrival_out=value,
        spread_impact_bps=spread_impact,
        delay_bps=delay,
        slippage_bps=None if firm_as_quoted else slippage,
        costs_bps=cost,
        total_bps=(value - got + costs) * _BPS / value,
    )
