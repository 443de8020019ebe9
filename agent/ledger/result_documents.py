"""Result documents (out/<id>.result.json): what one submission's outcome says to its wallet.

Amounts are decimal strings of base units, so a JavaScript reader never loses precision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.routing import Decision
from agent.domain.shortfall import Arrival
from agent.ledger.leg_reports import LegReport
from agent.ledger.plans import Submission

__all__ = ["RESULT_VERSION", "result_document"]

RESULT_VERSION = 1


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
    route: Mapping[str, Any] | None = None,
    arrival: Arrival | None = None,
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
    if arrival is not None:
        document["arrival"] = {
            "mid": str(arrival.mid),
            "source": arrival.source,
            "age_s": str(arrival.age_s),
        }
    if route is not None:
        document["route"] = _route_block(route, decision)
    document["legs"] = [leg.document() for leg in legs]
    document["quotes"] = _quotes(decision)
    # One line: json's C encoder only serves documents without indentation, and this runs
    # once per intent (`jq .` pretty-prints it).
    return json.dumps(document) + "\n"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _route_block(route: Mapping[str, Any], decision: Decision | None) -> dict[str, Any]:
    """The route as SQL's routes row holds it (``route``), so the two never disagree."""
    block: dict[str, Any] = {"kind": route["kind"], "venues": route["venues"]}
    if route["kind"] == "single":
        block["venue"], block["source"] = route["venue"], route["source"]
    block |= {
        "expected_out": _text(route["expected_out"]),
        "guaranteed_out": _text(route["guaranteed_out"]),
        "net_out": _text(route["net_out"]),
    }
    runner_up = decision.runner_up if decision else None
    block["runner_up"] = (
        None
        if runner_up is None
        else {
            "venue": runner_up.quote.venue,
            "source": runner_up.quote.source,
            "net_out": str(runner_up.net_out),
        }
    )
    if route.get("shortfall_bps") is not None:
        block["shortfall"] = {
            "arrival_out": _text(route["arrival_out"]),
            "total_bps": _text(route["shortfall_bps"]),
            "spread_impact_bps": _text(route["spread_impact_bps"]),
            "delay_bps": _text(route["delay_bps"]),
            "slippage_bps": _text(route["slippage_bps"]),
            "costs_bps": _text(route["costs_bps"]),
        }
    block["savings"] = {
        "vs_runner_up_bps": _text(route["savings_vs_runner_up_bps"]),
        "vs_best_single_bps": _text(route["savings_vs_best_single_bps"]),
        "vs_jupiter_bps": _text(route["savings_vs_jupiter_bps"]),
        "usd_micros": _text(route["savings_usd_micros"]),
    }
    return block
