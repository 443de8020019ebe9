"""What one submission will write: a plan built by the pipeline, rendered into rows by the recorder.

A plan says what the pipeline wants (reject early, record a routed outcome, or fill a
candidate); the recorder decides what actually happens in the batch's transaction (a replay
or the daily limit can still turn it down, a book can refuse the fill) and calls
:func:`render` with that final word to get the rows and the result document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from agent.domain.intent import IntentMessage
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.routing import Candidate, Decision, savings_bps
from agent.results import LegReport, result_document
from agent.venues.base import LegFailed

__all__ = [
    "Final",
    "Outcome",
    "Plan",
    "PlanKind",
    "Rendered",
    "Submission",
    "render",
    "result_name",
]


@dataclass(frozen=True, slots=True)
class Submission:
    source: str  # "directory" | "redis"
    ref: str  # unique per source: the claim id or the stream entry id
    name: str
    raw: bytes | None
    received_at: float
    unreadable: Exception | None = None  # IntentRejected from the intake, if it could not read
    resumed: bool = False  # claimed by an earlier run; may already be recorded


class PlanKind(Enum):
    REJECT = "reject"  # refused before routing: no intent row, the id and nonce stay free
    ROUTED = "routed"  # routed without a fill (no route, min_out unreachable, every leg failed)
    FILL = "fill"  # fill `candidate` and record the intent as filled


@dataclass(slots=True)
class Plan:
    kind: PlanKind
    submission: Submission
    mode: str
    reason: Reason | None = None  # for REJECT and ROUTED
    detail: str = ""
    intent: IntentMessage | None = None
    message: str = ""
    signature: str = ""
    verified_at: float = 0.0
    terms: TradeTerms | None = None
    min_out: int | None = None
    venues: tuple[str, ...] = ()
    notional_micros: int = 0
    day: str = ""
    daily_limit_micros: int = 0
    decision: Decision | None = None
    latency_s: float = 0.0
    failures: list[tuple[Candidate, LegFailed]] = field(default_factory=list)
    candidate: Candidate | None = None  # what FILL fills
    blockhash: Any = None  # dry-run and send: the blockhash the settlement is built on
    swap: Any = None  # a venue-built swap (BuiltSwap) that passed verification, for the executor

    @property
    def status(self) -> Status:
        if self.kind is PlanKind.FILL:
            return Status.FILLED
        if self.kind is PlanKind.ROUTED and self.failures:
            return Status.FAILED
        return Status.REJECTED


@dataclass(frozen=True, slots=True)
class Final:
    """What the recorder decided: the plan as it stands, or turned down with a reason."""

    status: Status
    reason: Reason | None
    detail: str
    writes_intent: bool  # the intent row (and its id and nonce) is consumed
    realised_out: int | None = None
    # Dry-run and send: the prepared transaction (EXECUTING), then what the cluster said.
    chain: dict[str, Any] | None = None
    # Dry-run of a swap with no cluster to simulate it on: verified and signed, not run.
    built: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    submission: Submission
    status: Status
    reason: Reason | None
    intent_id: str | None
    # Results are named after the intent, except for replays of an accepted id (they must not
    # overwrite the original's result) and files without a readable id.
    result_name: str
    result: str  # the JSON document
    decision_venue: str | None = None
    legs: tuple[LegReport, ...] = ()


@dataclass(frozen=True, slots=True)
class Rendered:
    rows: dict[str, list[dict[str, Any]]]
    outcome: Outcome


def result_name(intent_id: str | None, reason: Reason | None, ref: str) -> str:
    if intent_id is None or reason is Reason.REPLAYED_ID:
        return ref
    return intent_id


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _legs(plan: Plan, final: Final) -> list[LegReport]:
    legs = [
        LegReport.failed(i, c.quote, failed.reason, failed.detail)
        for i, (c, failed) in enumerate(plan.failures)
    ]
    if final.chain is not None and final.status is Status.FAILED and legs:
        # The last failure is the leg whose transaction was simulated or sent.
        legs[-1] = replace(legs[-1], chain=final.chain)
    if final.built and plan.candidate is not None:
        legs.append(replace(LegReport.built(len(legs), plan.candidate.quote), chain=final.chain))
    elif (
        final.status in (Status.FILLED, Status.EXECUTING)
        and plan.candidate is not None
        and final.realised_out is not None
    ):
        leg = LegReport.filled(len(legs), plan.candidate.quote, final.realised_out)
        if final.status is Status.EXECUTING:
            leg = replace(leg, status="executing", realised_slippage_bps=None)
        legs.append(replace(leg, chain=final.chain))
    return legs


def render(plan: Plan, final: Final, now: float) -> Rendered:
    """Rows for every table this outcome touches, and the result document, from one plan."""
    intent, terms, decision = plan.intent, plan.terms, plan.decision
    submission = plan.submission
    legs = _legs(plan, final) if final.writes_intent else []
    intent_id = intent.id if intent is not None else None
    amount_out = final.realised_out if final.status is Status.FILLED else None
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
    )
    rows: dict[str, list[dict[str, Any]]] = {}
    if final.status.terminal:
        # A submission is recorded once, when it ends; an EXECUTING one is not finished yet.
        rows["submissions"] = [
            {
                "source": submission.source,
                "ref": submission.ref,
                "name": submission.name,
                "digest": hashlib.sha256(submission.raw or b"").hexdigest(),
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
        _intent_rows(rows, plan, final, legs, now)
    outcome = Outcome(
        submission=submission,
        status=final.status,
        reason=final.reason,
        intent_id=intent_id,
        result_name=result_name(intent_id, final.reason, submission.ref),
        result=document,
        decision_venue=plan.candidate.quote.venue
        if plan.candidate and final.writes_intent
        else None,
        legs=tuple(legs),
    )
    return Rendered(rows, outcome)


def _intent_rows(
    rows: dict[str, list[dict[str, Any]]],
    plan: Plan,
    final: Final,
    legs: list[LegReport],
    now: float,
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
            "amount_out": final.realised_out if final.status is Status.FILLED else None,
            "submission_source": plan.submission.source,
            "submission_ref": plan.submission.ref,
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
        if decision.chosen is not None:
            rows["routes"] = [_route_row(plan, decision, at)]
    if legs:
        rows["legs"] = [{**leg.row(intent.id), "executed_at": at} for leg in legs]
    if final.status is Status.FILLED and not final.built:
        assert final.realised_out is not None and plan.candidate is not None
        quote = plan.candidate.quote
        price = Decimal(final.realised_out).scaleb(-terms.buy.decimals) / Decimal(
            terms.amount
        ).scaleb(-terms.sell.decimals)
        rows["trades"] = [
            {
                "intent_id": intent.id,
                "leg_index": legs[-1].index,
                "venue": quote.venue,
                "source": quote.source,
                "wallet": intent.wallet,
                "sell_mint": terms.sell.mint,
                "buy_mint": terms.buy.mint,
                "amount_in": terms.amount,
                "amount_out": final.realised_out,
                "price": price.quantize(Decimal("1e-12")),
                "notional_usd_micros": plan.notional_micros,
                "mode": plan.mode,
                "tx_signature": (final.chain or {}).get("signature")
                if plan.mode == "send"
                else None,
                "executed_at": at,
            }
        ]


def _route_row(plan: Plan, decision: Decision, at: datetime) -> dict[str, Any]:
    chosen = decision.chosen
    assert chosen is not None and plan.intent is not None
    final_candidate = plan.candidate or chosen
    runner_up = decision.runner_up
    return {
        "intent_id": plan.intent.id,
        "kind": "single",
        "venues": final_candidate.quote.venue,
        "expected_out": final_candidate.quote.expected_out,
        "guaranteed_out": final_candidate.quote.guaranteed_out,
        "net_out": final_candidate.net_out,
        "runner_up_net_out": runner_up.net_out if runner_up else None,
        "savings_vs_runner_up_bps": savings_bps(final_candidate.net_out, runner_up.net_out)
        if runner_up and final_candidate is chosen
        else None,
        "savings_vs_best_single_bps": savings_bps(final_candidate.net_out, chosen.net_out),
        "decision_latency_s": Decimal(f"{plan.latency_s:.6f}"),
        "decided_at": at,
    }


def _quote_rows(intent_id: str, decision: Decision) -> list[dict[str, Any]]:
    rows = [
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
