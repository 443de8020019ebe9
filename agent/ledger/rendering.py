"""The rows and the result document one outcome writes: :func:`render` turns a plan and the
recorder's final word into every table's rows, in one pass, on the store's thread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from agent.domain.outcomes import Reason, Status
from agent.domain.routing import Decision, savings_bps
from agent.domain.shortfall import LegExecution, intent_shortfall
from agent.ledger.leg_reports import LegReport
from agent.ledger.plans import Final, LegStatus, Outcome, Plan, result_name, venue_set
from agent.ledger.result_documents import result_document

__all__ = ["Rendered", "Savings", "render", "route_savings", "settled_figures"]


@dataclass(frozen=True, slots=True)
class Rendered:
    rows: dict[str, list[dict[str, Any]]]
    outcome: Outcome


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _legs(plan: Plan, final: Final) -> list[LegReport]:
    """Declined candidates first (in the order they were tried), then the plan's fills."""
    legs = [
        LegReport.failed(i, c.quote, failed.reason, failed.detail)
        for i, (c, failed) in enumerate(plan.failures)
    ]
    for candidate, outcome in zip(plan.fills, final.legs, strict=False):
        index, quote = len(legs), candidate.quote
        if outcome.status is LegStatus.FILLED:
            assert outcome.realised_out is not None
            leg = LegReport.filled(index, quote, outcome.realised_out)
        elif outcome.status is LegStatus.BUILT:
            leg = LegReport.built(index, quote)
        elif outcome.status is LegStatus.EXECUTING:
            # Planned, not yet measured: no slippage to report.
            leg = replace(
                LegReport.of(index, quote, "executing"), realised_out=outcome.realised_out
            )
        else:
            reason = outcome.reason or final.reason or Reason.INTERNAL_ERROR
            leg = LegReport.of(
                index, quote, outcome.status.value, reason=reason, detail=outcome.detail
            )
        legs.append(replace(leg, chain=outcome.chain))
    return legs


def render(plan: Plan, final: Final, now: float) -> Rendered:
    """Rows for every table this outcome touches, and the result document, from one plan."""
    intent, terms, decision = plan.intent, plan.terms, plan.decision
    submission = plan.submission
    legs = _legs(plan, final) if final.writes_intent else []
    intent_id = intent.id if intent is not None else None
    # A failed split may still have delivered its landed legs (send mode): they count.
    amount_out = final.realised_out if final.status.terminal else None
    at = _ts(now)
    # One route row, for SQL and the result document alike.
    route = (
        _route_row(plan, decision, at)
        if final.writes_intent and decision is not None and (plan.fills or decision.planned)
        else None
    )
    if route is not None:
        route |= _shortfall_fields(plan, final, legs)
    document = result_document(
        submission=submission,
        status=final.status,
        reason=final.reason,
        detail=final.detail,
        intent=intent if final.writes_intent else None,
        terms=terms if final.writes_intent else None,
        min_out=plan.min_out,
        decision=decision if final.writes_intent else None,
        legs=legs,
        mode=plan.mode,
        amount_out=amount_out,
        claimed_intent_id=intent_id,
        route=route,
        arrival=plan.arrival if final.writes_intent else None,
    )
    rows: dict[str, list[dict[str, Any]]] = {}
    if final.status.terminal:
        # A submission is recorded once, when it ends; an EXECUTING one is not finished yet.
        rows["submissions"] = [
            {
                "source": submission.source,
                "ref": submission.ref,
                "name": _storable_name(submission.name),
                "digest": submission.digest,
                "status": final.status.value,
                "reason": final.reason.value if final.reason else None,
                "detail": final.detail[:2000],
                "intent_id": intent_id,
                "result": document,
                "received_at": _ts(submission.received_at),
                "finished_at": _ts(now),
            }
        ]
    if final.writes_intent:
        assert intent is not None and terms is not None and plan.min_out is not None
        _intent_rows(rows, plan, final, legs, now, route)
    outcome = Outcome(
        submission=submission,
        status=final.status,
        reason=final.reason,
        intent_id=intent_id,
        result_name=result_name(intent_id, final.reason, submission.ref),
        result=document,
        decision_venue=venue_set(plan.fills) if plan.fills and final.writes_intent else None,
        legs=tuple(legs),
        terms=plan.terms,
        shortfall=_parts(route),
    )
    return Rendered(rows, outcome)


def _parts(route: Mapping[str, Any] | None) -> dict[str, Decimal | None] | None:
    """The shortfall figures of a route row, when it has them."""
    if route is None or route.get("shortfall_bps") is None:
        return None
    return {column: route[column] for column in _SHORTFALL_COLUMNS if column != "arrival_out"}


def _intent_rows(
    rows: dict[str, list[dict[str, Any]]],
    plan: Plan,
    final: Final,
    legs: list[LegReport],
    now: float,
    route: dict[str, Any] | None,
) -> None:
    intent, terms, decision = plan.intent, plan.terms, plan.decision
    assert intent is not None and terms is not None and plan.min_out is not None
    at, verified = _ts(now), _ts(plan.verified_at)
    reason = final.reason.value if final.reason else None
    rows["intents"] = [
        {
            "id": intent.id,
            "wallet": intent.wallet,
            "nonce": intent.nonce,
            "cluster": intent.cluster,
            "sell_mint": intent.sell_mint,
            "buy_mint": intent.buy_mint,
            "pair": f"{terms.sell.symbol}/{terms.buy.symbol}",
            "amount": intent.amount,
            "min_out": plan.min_out,
            "slippage_bps": terms.slippage_bps,
            "not_after": intent.not_after,
            "venues": ",".join(plan.venues),
            "notional_usd_micros": plan.notional_micros,
            "usage_day": plan.day,
            "status": final.status.value,
            "reason": reason,
            "detail": final.detail[:2000],
            "amount_out": final.realised_out if final.status.terminal else None,
            "submission_source": plan.submission.source,
            "submission_ref": plan.submission.ref,
            "arrival_mid": plan.arrival.mid if plan.arrival else None,
            "arrival_price_source": plan.arrival.source if plan.arrival else None,
            "arrival_price_age_s": plan.arrival.age_s if plan.arrival else None,
            "submission_name": _storable_name(plan.submission.name),
            "submission_digest": plan.submission.digest,
            "received_at": _ts(plan.submission.received_at),
            "replica": plan.replica or None,
            "message": plan.message,
            "signature": plan.signature,
            "created_at": verified,
            "updated_at": at,
        }
    ]
    rows["events"] = [
        {
            "intent_id": intent.id,
            "status": Status.ACCEPTED.value,
            "reason": None,
            "detail": "",
            "at": verified,
        },
        {
            "intent_id": intent.id,
            "status": final.status.value,
            "reason": reason,
            "detail": final.detail[:2000],
            "at": at,
        },
    ]
    if decision is not None:
        rows["quotes"] = _quote_rows(intent.id, decision)
    if route is not None:
        rows["routes"] = [{k: v for k, v in route.items() if k not in _DOCUMENT_ONLY}]
    if legs:
        rows["legs"] = [{**leg.row(intent.id), "executed_at": at} for leg in legs]
    trades = [leg for leg in legs if leg.status == "filled" and leg.realised_out is not None]
    if trades and final.status in (Status.FILLED, Status.FAILED):
        rows["trades"] = [_trade_row(plan, leg, at) for leg in trades]


def _trade_row(plan: Plan, leg: LegReport, at: datetime) -> dict[str, Any]:
    intent, terms = plan.intent, plan.terms
    assert intent is not None and terms is not None and leg.realised_out is not None
    price = Decimal(leg.realised_out).scaleb(-terms.buy.decimals) / Decimal(leg.amount_in).scaleb(
        -terms.sell.decimals
    )
    # The leg's share of the intent's notional, so a split's trades add up to the intent.
    notional = plan.notional_micros * leg.amount_in // terms.amount
    return {
        "intent_id": intent.id,
        "leg_index": leg.index,
        "venue": leg.venue,
        "source": leg.source,
        "wallet": intent.wallet,
        "sell_mint": terms.sell.mint,
        "buy_mint": terms.buy.mint,
        "amount_in": leg.amount_in,
        "amount_out": leg.realised_out,
        "price": price.quantize(Decimal("1e-12")),
        "notional_usd_micros": notional,
        "mode": plan.mode,
        "tx_signature": (leg.chain or {}).get("signature") if plan.mode == "send" else None,
        "executed_at": at,
    }


@dataclass(frozen=True, slots=True)
class Savings:
    """What the plan's fills gain over the baselines, in bps of net output and in USD."""

    vs_best_single_bps: Decimal | None  # None: no single venue could fill the whole amount
    vs_jupiter_bps: Decimal | None  # None: Jupiter did not quote
    usd_micros: int | None  # above the best single venue, valued like the intent's notional


def route_savings(plan: Plan, decision: Decision) -> Savings:
    assert plan.terms is not None
    fills = plan.fills or list(decision.planned)
    net_out = sum(c.net_out for c in fills)
    chosen = decision.chosen
    jupiter = decision.best_of("jupiter")
    usd = None
    if chosen is not None and plan.terms.reference_out > 0:
        gained = Decimal(net_out - chosen.net_out) * plan.notional_micros
        usd = int(gained / plan.terms.reference_out)
    return Savings(
        savings_bps(net_out, chosen.net_out) if chosen else None,
        savings_bps(net_out, jupiter.net_out) if jupiter else None,
        usd,
    )


def _shortfall_fields(plan: Plan, final: Final, legs: list[LegReport]) -> dict[str, Any]:
    """A filled intent's implementation shortfall against its arrival mid, from what the
    decision planned, the fills quoted and the legs delivered; all None otherwise."""
    fields: dict[str, Any] = dict.fromkeys(_SHORTFALL_COLUMNS)
    filled = [leg for leg in legs if leg.status == "filled" and leg.realised_out is not None]
    arrival, decision = plan.arrival, plan.decision
    if (
        final.status is not Status.FILLED
        or arrival is None
        or decision is None
        or not filled
        or len(filled) != len(plan.fills)
    ):
        return fields
    fees = [(leg.chain or {}).get("fee_lamports") for leg in filled]
    # Paper mode sends no transaction: no fee was paid or measured, so costs stay None.
    lamport_mid = arrival.lamport_mid if all(isinstance(f, int) for f in fees) else None
    execution = LegExecution(
        amount_in=sum(leg.amount_in for leg in filled),
        decided_out=sum(c.quote.expected_out for c in decision.planned),
        quoted_out=sum(leg.expected_out for leg in filled),
        delivered_out=sum(leg.realised_out or 0 for leg in filled),
        costs_out=Decimal(0)
        if lamport_mid is None
        else sum(f for f in fees if isinstance(f, int)) * lamport_mid,
        firm=all(leg.firm for leg in filled),
    )
    shortfall = intent_shortfall([execution], arrival.mid)
    assert shortfall is not None
    return {
        "arrival_out": shortfall.arrival_out,
        "shortfall_bps": shortfall.total_bps,
        "spread_impact_bps": shortfall.spread_impact_bps,
        "delay_bps": shortfall.delay_bps,
        # In paper mode the output is what the agent's own books gave, not what a chain
        # delivered: its slippage could only come out as the books say, so it is not reported.
        "slippage_bps": None if plan.mode == "paper" else shortfall.slippage_bps,
        "costs_bps": None if lamport_mid is None else shortfall.costs_bps,
    }


def settled_figures(route_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """From a re-rendered route row, the figures only a settlement knows (the shortfall)."""
    if not route_rows:
        return {}
    return {column: route_rows[0][column] for column in _SHORTFALL_COLUMNS}


_SHORTFALL_COLUMNS = (
    "arrival_out",
    "shortfall_bps",
    "spread_impact_bps",
    "delay_bps",
    "slippage_bps",
    "costs_bps",
)

# What the result document says of a single route that the routes table does not store.
_DOCUMENT_ONLY = frozenset({"venue", "source"})


def _route_row(plan: Plan, decision: Decision, at: datetime) -> dict[str, Any]:
    assert plan.intent is not None
    fills = plan.fills or list(decision.planned)
    net_out = sum(c.net_out for c in fills)
    runner_up = decision.runner_up
    as_decided = [c.quote for c in fills] == [c.quote for c in decision.planned]
    savings = route_savings(plan, decision)
    return {
        "intent_id": plan.intent.id,
        "kind": "split" if len(fills) > 1 else "single",
        "venues": venue_set(fills),
        "venue": fills[0].quote.venue,
        "source": fills[0].quote.source,
        "expected_out": sum(c.quote.expected_out for c in fills),
        "guaranteed_out": sum(c.quote.guaranteed_out for c in fills),
        "net_out": net_out,
        "runner_up_net_out": runner_up.net_out if runner_up else None,
        "savings_vs_runner_up_bps": savings_bps(net_out, runner_up.net_out)
        if runner_up and as_decided and len(fills) == 1
        else None,
        "savings_vs_best_single_bps": savings.vs_best_single_bps,
        "savings_vs_jupiter_bps": savings.vs_jupiter_bps,
        "savings_usd_micros": savings.usd_micros,
        "allocations_considered": decision.considered,
        "decision_latency_s": Decimal(f"{plan.latency_s:.6f}"),
        "decided_at": at,
    }


def _quote_rows(intent_id: str, decision: Decision) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "intent_id": intent_id,
            "venue": c.quote.venue,
            "source": c.quote.source,
            "verdict": c.verdict.value,
            "detail": "",
            "amount_in": c.quote.amount_in,
            "expected_out": c.quote.expected_out,
            "guaranteed_out": c.quote.guaranteed_out,
            "network_cost_out": c.network_cost_out,
            "net_out": c.net_out,
            "fee_bps": c.quote.fee_bps,
            "price_impact_bps": c.quote.price_impact_bps,
            "firm": c.quote.firm,
            "price_source": c.quote.price_source,
            "quoted_at": _ts(c.quote.quoted_at),
            "expires_at": _ts(c.quote.expires_at),
        }
        for c in decision.candidates
    ]
    rows += [
        {
            "intent_id": intent_id,
            "venue": m.venue,
            "source": m.source,
            "verdict": m.reason,
            "detail": m.detail[:2000],
            "amount_in": None,
            "expected_out": None,
            "guaranteed_out": None,
            "network_cost_out": None,
            "net_out": None,
            "fee_bps": None,
            "price_impact_bps": None,
            "firm": None,
            "price_source": "",
            "quoted_at": None,
            "expires_at": None,
        }
        for m in decision.misses
    ]
    return rows


def _storable_name(name: str) -> str:
    """A file name as text SQL can store: bytes that are not UTF-8 (kept as surrogate escapes
    by the file system layer) are written as backslash escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
