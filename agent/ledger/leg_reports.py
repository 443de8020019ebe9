"""The per-leg report that result documents, SQL rows and metrics share.

Amounts are base units; a report renders itself as a route_legs row and as a result
document's leg, so the two never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.domain.outcomes import Reason
from agent.domain.quotes import Quote
from agent.store.intents import slippage_bps

__all__ = ["BUILT_DETAIL", "CHAIN_COLUMNS", "LegReport"]

# Why a dry-run swap leg was only built: said once, in the leg and in the intent's detail.
BUILT_DETAIL = "verified; not simulated: set venues.jupiter.simulate_rpc to simulate"
CHAIN_COLUMNS = ("transaction", "signature", "last_valid_block_height", "units_consumed",
                 "fee_lamports", "buy_account", "slot", "error", "logs")  # fmt: skip


@dataclass(frozen=True, slots=True)
class LegReport:
    index: int
    venue: str
    source: str
    amount_in: int
    expected_out: int
    guaranteed_out: int
    status: str  # "filled" | "failed" | "built" | "executing"
    reason: str | None
    detail: str
    realised_out: int | None
    realised_slippage_bps: Decimal | None
    # The settlement transaction and what the cluster said about it (dry-run and send modes),
    # keyed like the route_legs columns: transaction, signature, units_consumed, ...
    chain: dict[str, Any] | None = None
    # The venue's own data from the quote (pool side, sold mint): what undoing the fill needs.
    details: dict[str, str] | None = None
    price_impact_bps: Decimal = Decimal(0)  # what the venue quoted
    # A firm RFQ quote fills at its price by contract: its slippage is not measured (it would
    # be 0 by construction); the fill's quality shows against the market, not its quote.
    firm: bool = False

    @classmethod
    def of(
        cls,
        index: int,
        quote: Quote,
        status: str,
        *,
        reason: Reason | None = None,
        detail: str = "",
        realised_out: int | None = None,
    ) -> LegReport:
        """A leg of ``quote`` in ``status``; realised slippage follows from ``realised_out``,
        except for a firm quote, which has none by contract."""
        return cls(
            index,
            quote.venue,
            quote.source,
            quote.amount_in,
            quote.expected_out,
            quote.guaranteed_out,
            status,
            None if reason is None else reason.value,
            detail,
            realised_out,
            None
            if realised_out is None or quote.firm
            else slippage_bps(quote.expected_out, realised_out),
            details=dict(quote.details),
            price_impact_bps=quote.price_impact_bps,
            firm=quote.firm,
        )

    @classmethod
    def filled(cls, index: int, quote: Quote, realised_out: int) -> LegReport:
        return cls.of(index, quote, "filled", realised_out=realised_out)

    @classmethod
    def built(cls, index: int, quote: Quote) -> LegReport:
        """A swap transaction verified in dry-run, with nowhere to simulate it."""
        return cls.of(index, quote, "built", detail=BUILT_DETAIL)

    @classmethod
    def failed(cls, index: int, quote: Quote, reason: Reason, detail: str) -> LegReport:
        return cls.of(index, quote, "failed", reason=reason, detail=detail)

    def row(self, intent_id: str) -> dict[str, Any]:
        return {
            "intent_id": intent_id,
            "leg_index": self.index,
            "venue": self.venue,
            "source": self.source,
            "amount_in": self.amount_in,
            "expected_out": self.expected_out,
            "guaranteed_out": self.guaranteed_out,
            "status": self.status,
            "reason": self.reason,
            "realised_out": self.realised_out,
            "realised_slippage_bps": self.realised_slippage_bps,
            "firm": self.firm,
            **{column: (self.chain or {}).get(column) for column in CHAIN_COLUMNS},
            "quote_details": json.dumps(self.details or {}, sort_keys=True),
        }

    def document(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "source": self.source,
            "amount_in": str(self.amount_in),
            "expected_out": str(self.expected_out),
            "guaranteed_out": str(self.guaranteed_out),
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail or None,
            "realised_out": None if self.realised_out is None else str(self.realised_out),
            "realised_slippage_bps": None
            if self.realised_slippage_bps is None
            else str(self.realised_slippage_bps),
            "firm": self.firm,
            "transaction": None if self.chain is None else dict(self.chain),
        }
