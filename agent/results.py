"""Result documents (out/<id>.result.json) and the per-leg report they and SQL share.

Amounts are decimal strings of base units, so a JavaScript reader never loses precision.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.quotes import Quote
from agent.domain.routing import Decision
from agent.store.intents import slippage_bps

if TYPE_CHECKING:
    from agent.records import Submission

__all__ = ["BUILT_DETAIL", "RESULT_VERSION", "LegReport", "result_document"]

RESULT_VERSION = 1
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
        """A leg of ``quote`` in ``status``; realised slippage follows from ``realised_out``."""
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
            None if realised_out is None else slippage_bps(quote.expected_out, realised_out),
            details=dict(quote.details),
            price_impact_bps=quote.price_impact_bps,
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
            "transaction": None if self.chain is None else dict(self.chain),
        }


def _quotes(decision: Decision | None) -> list[dict[str, Any]]:
    if decision is None:
        return []
    rows: list[dict[str, Any]] = [
        {
            "venue": c.quote.venue,
            "source": c.quote.source,
            "verdict": c.verdict.value,
            "expected_out": str(c.quote.expected_out),
            "guaranteed_out": str(c.quote.guaranteed_out),
            "network_cost_out": str(c.network_cost_out),
            "net_out": str(c.net_out),
            "fee_bps": str(c.quote.fee_bps),
            "price_impact_bps": str(c.quote.price_impact_bps),
            "firm": c.quote.firm,
            "price_source": c.quote.price_source,
        }
        for c in decision.candidates
    ]
    rows += [
        {"venue": m.venue, "source": m.source, "verdict": m.reason, "detail": m.detail or None}
        for m in decision.misses
    ]
    return rows


def result_document(
    *,
    submission: Submission,
    status: Status,
    reason: Reason | None,
    detail: str,
    intent: IntentMessage | None,
    terms: TradeTerms | None,
    min_out: int | None,
    decision: Decision | None,
    legs: Sequence[LegReport],
    mode: str,
    amount_out: int | None,
    claimed_intent_id: str | None = None,
) -> str:
    document: dict[str, Any] = {
        "version": RESULT_VERSION,
        "intent_id": intent.id if intent else claimed_intent_id,
        "status": status.value,
        "reason": reason.value if reason else None,
        "detail": detail or None,
        "submission": {"source": submission.source, "ref": submission.ref, "name": submission.name},
        "mode": mode,
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if intent is not None and terms is not None:
        document["wallet"] = intent.wallet
        document["pair"] = f"{terms.sell.symbol}/{terms.buy.symbol}"
        document["sell"] = {
            "symbol": terms.sell.symbol,
            "mint": terms.sell.mint,
            "amount": str(terms.amount),
        }
        document["buy"] = {
            "symbol": terms.buy.symbol,
            "mint": terms.buy.mint,
            "min_out": str(min_out),
            "amount_out": None if amount_out is None else str(amount_out),
        }
    chosen = decision.chosen if decision else None
    if chosen is not None:
        runner_up = decision.runner_up if decision else None
        document["route"] = {
            "kind": "single",
            "venue": chosen.quote.venue,
            "source": chosen.quote.source,
            "expected_out": str(chosen.quote.expected_out),
            "guaranteed_out": str(chosen.quote.guaranteed_out),
            "net_out": str(chosen.net_out),
            "runner_up": None
            if runner_up is None
            else {
                "venue": runner_up.quote.venue,
                "source": runner_up.quote.source,
                "net_out": str(runner_up.net_out),
            },
        }
    document["legs"] = [leg.document() for leg in legs]
    document["quotes"] = _quotes(decision)
    # One line: json's C encoder only serves documents without indentation, and this runs
    # once per intent (`jq .` pretty-prints it).
    return json.dumps(document) + "\n"
