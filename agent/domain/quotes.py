"""What a venue answers when asked for a price: a quote, or a reason it has none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["Quote", "QuoteMiss", "QuoteRequest"]


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    sell_mint: str
    buy_mint: str
    amount: int
    min_out: int
    slippage_bps: int
    taker: str = ""  # the wallet; Jupiter's /swap/v2/build needs it at quote time
    not_after: float = float("inf")  # the intent's deadline: how long a venue may wait for budget


@dataclass(frozen=True, slots=True)
class Quote:
    venue: str  # "otc" | "localdex" | "jupiter"
    source: str  # the pool or route that quoted
    amount_in: int
    expected_out: int
    # What the venue is held to on execution: equal to expected for a firm RFQ quote, the
    # slippage threshold for an AMM.
    guaranteed_out: int
    fee_bps: Decimal  # the venue's spread or fee
    price_impact_bps: Decimal
    quoted_at: float
    expires_at: float
    signatures: int  # transaction signatures the fill needs (each costs the base fee)
    firm: bool
    price_source: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuoteMiss:
    venue: str
    source: str
    reason: str
    detail: str = ""
