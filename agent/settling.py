"""Dry-run and send: the life of a fill after the recorder reserved it and signed its settlement.

The settlement is simulated (dry-run) or sent and confirmed (send), then the recorder records
the result, or gives the books and the wallet's usage back. Fills a crash left executing are
settled here before any new work starts, from what SQL stored with the reservation.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from agent.domain.intent import parse_json_object, parse_message
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.quotes import Quote
from agent.domain.routing import Candidate, Verdict
from agent.domain.tokens import TokenRegistry
from agent.executor import EXTERNAL_VENUES, ChainExecutor, ExecutionReport, PreparedLeg
from agent.metrics import Metrics
from agent.recorder import Recorder
from agent.records import Final, Outcome, Plan, PlanKind, Submission
from agent.results import CHAIN_COLUMNS
from agent.store import intents as intent_rows
from agent.store.database import Store
from agent.venues.base import LegFailed
from onchain.cluster import ClusterUnavailable

__all__ = ["Settler"]


class Settler:
    def __init__(
        self,
        *,
        recorder: Recorder,
        store: Store,
        tokens: TokenRegistry,
        metrics: Metrics,
        mode: str,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.tokens = tokens
        self.metrics = metrics
        self.mode = mode
        self.executor: ChainExecutor | None = None

    def prepare(self, plan: Plan, realised_out: int) -> PreparedLeg:
        """Runs in the recorder's transaction: sign the settlement of the fill just reserved."""
        assert self.executor is not None and plan.intent is not None and plan.candidate is not None
        return self.executor.prepare(
            intent_id=plan.intent.id,
            wallet=plan.intent.wallet,
            quote=plan.candidate.quote,
            realised_out=realised_out,
            sell_mint=plan.intent.sell_mint,
            buy_mint=plan.intent.buy_mint,
            blockhash=plan.blockhash,
            swap=plan.swap,
        )

    async def settle(self, plan: Plan, executing: Outcome) -> Outcome:
        """Simulate or send the reserved fill's transaction, then record what happened."""
        assert self.executor is not None and plan.intent is not None and plan.candidate is not None
        leg = executing.legs[-1]
        assert leg.chain is not None and leg.realised_out is not None
        planned_out = leg.realised_out
        prepared = self.executor.reload(leg.chain, plan.intent.wallet, plan.candidate, plan.terms)
        report = await self.executor.execute(prepared, planned_out)
        return await self._record_report(plan, leg.chain, report, planned_out)

    async def _record_report(
        self,
        plan: Plan,
        prepared: dict,
        report: ExecutionReport,  # type: ignore[type-arg]
        planned_out: int,
    ) -> Outcome:
        assert plan.candidate is not None
        chain = {
            **prepared,
            "units_consumed": report.units_consumed,
            "slot": report.slot,
            "error": report.error,
            "logs": "\n".join(report.logs),
        }
        result = "built" if report.built else "ok" if report.ok else "failed"
        self.metrics.executions.labels(self.mode, result).inc()
        if self.executor is not None:
            self.executor.measured(plan.candidate.quote.venue, report.units_consumed)
        if report.units_consumed is not None:
            self.metrics.compute_units.observe(report.units_consumed)
        if report.built:
            final = Final(
                Status.FILLED,
                None,
                "built and verified; not simulated: set venues.jupiter.simulate_rpc to simulate",
                writes_intent=True,
                chain=chain,
                built=True,
            )
        elif report.ok:
            final = Final(
                Status.FILLED,
                None,
                "",
                writes_intent=True,
                realised_out=report.realised_out,
                chain=chain,
            )
        else:
            assert report.reason is not None
            plan.failures.append((plan.candidate, LegFailed(report.reason, report.error or "")))
            final = Final(
                Status.FAILED, report.reason, report.error or "", writes_intent=True, chain=chain
            )
        return await self.recorder.finish(plan, final, planned_out)

    async def settle_leftovers(self, *, abandon: bool) -> int:
        """Finish fills a crash left EXECUTING, before any new work starts.

        With ``abandon`` (sending on the in-process cluster, which a restart rebuilt) their
        transactions are gone: each fails and its books and usage are given back. Otherwise a
        sent transaction is confirmed by its stored signature before anything is rebuilt, and
        a dry-run is simply simulated again on a fresh blockhash.
        """
        leftovers = await self.store.read(intent_rows.executing_intents)
        for leftover in leftovers:
            plan, chain, planned_out = self._plan_from_rows(leftover)
            if abandon:
                assert plan.candidate is not None
                plan.failures.append(
                    (
                        plan.candidate,
                        LegFailed(Reason.TRANSACTION_EXPIRED, "lost with the local chain"),
                    )
                )
                final = Final(
                    Status.FAILED,
                    Reason.TRANSACTION_EXPIRED,
                    "the local chain was rebuilt before the outcome was known",
                    writes_intent=True,
                    chain=chain,
                )
                await self.recorder.finish(plan, final, planned_out)
                continue
            await self._settle_stored(plan, chain, planned_out)
        return len(leftovers)

    async def settle_one(
        self, leftover: intent_rows.ExecutingIntent, submission: Submission
    ) -> Outcome:
        """A submission met again (after an outage) whose fill is still executing: settle it."""
        plan, chain, planned_out = self._plan_from_rows(leftover)
        plan.submission = submission
        return await self._settle_stored(plan, chain, planned_out)

    def _plan_from_rows(
        self, leftover: intent_rows.ExecutingIntent
    ) -> tuple[Plan, dict[str, Any], int]:
        """Everything settling needs, rebuilt from SQL (the signed message is stored there)."""
        row = leftover.intent
        intent = parse_message(parse_json_object(row.message, "message"))
        sell, buy = self.tokens.require(row.sell_mint), self.tokens.require(row.buy_mint)
        terms = TradeTerms(
            sell,
            buy,
            row.amount,
            row.min_out,
            row.slippage_bps,
            Decimal(row.notional_usd_micros) / 1_000_000,
            0,
        )
        submission = Submission(
            row.submission_source, row.submission_ref, "", None, row.created_at.timestamp()
        )
        plan = Plan(
            kind=PlanKind.FILL,
            submission=submission,
            mode=self.mode,
            intent=intent,
            message=row.message,
            signature=row.signature,
            verified_at=row.created_at.timestamp(),
            terms=terms,
            min_out=row.min_out,
            venues=tuple(v for v in row.venues.split(",") if v),
            notional_micros=row.notional_usd_micros,
            day=row.usage_day,
        )
        executed = None
        for leg in leftover.legs:
            candidate = _candidate_from_leg(leg)
            if leg.status == "executing":
                executed = leg
                plan.candidate = candidate
            else:
                plan.failures.append((candidate, LegFailed(Reason(leg.reason), "")))
        assert executed is not None and executed.realised_out is not None
        chain = {column: getattr(executed, column) for column in CHAIN_COLUMNS}
        return plan, chain, executed.realised_out

    async def _settle_stored(self, plan: Plan, chain: dict[str, Any], planned_out: int) -> Outcome:
        assert self.executor is not None and plan.intent is not None and plan.candidate is not None
        if self.mode == "send":
            prepared = self.executor.reload(chain, plan.intent.wallet, plan.candidate, plan.terms)
            report = await self.executor.settle_leftover(prepared, planned_out)
            if not report.ok and report.reason is Reason.CLUSTER_UNAVAILABLE:
                # Its fate must be known before anything else runs; the operator retries later.
                raise ClusterUnavailable(
                    "settling a transaction sent before a restart", report.error or ""
                )
            return await self._record_report(plan, chain, report, planned_out)
        if plan.candidate.quote.venue in EXTERNAL_VENUES:
            # A venue-built swap cannot be rebuilt from SQL; its simulation replaces the
            # blockhash anyway, so the stored transaction is run as it is.
            prepared = self.executor.reload(chain, plan.intent.wallet, plan.candidate, plan.terms)
            report = await self.executor.execute(prepared, planned_out)
            return await self._record_report(plan, chain, report, planned_out)
        plan.blockhash = await self.executor.blockhash()
        prepared = self.prepare(plan, planned_out)
        chain = {
            **chain,
            "transaction": prepared.transaction,
            "signature": prepared.signature,
            "last_valid_block_height": prepared.last_valid_block_height,
        }
        report = await self.executor.execute(prepared, planned_out)
        return await self._record_report(plan, chain, report, planned_out)


def _candidate_from_leg(leg: Any) -> Candidate:
    """A stored leg as the candidate it was (enough to record, settle or undo it)."""
    quote = Quote(
        venue=leg.venue,
        source=leg.source,
        amount_in=leg.amount_in,
        expected_out=leg.expected_out,
        guaranteed_out=leg.guaranteed_out,
        fee_bps=Decimal(0),
        price_impact_bps=Decimal(0),
        quoted_at=0.0,
        expires_at=0.0,
        signatures=2,
        firm=leg.venue == "otc",
        details=json.loads(leg.quote_details or "{}"),
    )
    return Candidate(quote, 0, leg.expected_out, Verdict.CHOSEN)
