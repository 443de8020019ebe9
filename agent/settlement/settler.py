"""Dry-run and send: the life of a fill after the recorder reserved it and signed its settlement.

The settlement is simulated (dry-run) or sent and confirmed (send), then the recorder records
the result, or gives the books and the wallet's usage back. Fills a crash left executing are
settled here before any new work starts, from what SQL stored with the reservation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from agent.domain.intent import parse_json_object, parse_message
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms
from agent.domain.quotes import Quote
from agent.domain.routing import Candidate, Verdict
from agent.domain.shortfall import Arrival
from agent.domain.tokens import TokenRegistry
from agent.ledger.group_commit import Recorder
from agent.ledger.leg_reports import BUILT_DETAIL, CHAIN_COLUMNS
from agent.ledger.plans import Final, LegOutcome, LegStatus, Outcome, Plan, PlanKind, Submission
from agent.metrics.catalog import Metrics
from agent.settlement.executor import EXTERNAL_VENUES, ChainExecutor, ExecutionReport
from agent.settlement.signing import LegSigner
from agent.store import intents as intent_rows
from agent.store.database import Store
from agent.venues.base import LegFailed
from onchain.cluster import ClusterError

__all__ = ["SettlementInDoubt", "Settler"]

log = structlog.get_logger("agent.settling")


class SettlementInDoubt(ClusterError):
    """A settlement was sent (or may have been) and the cluster stopped answering before its
    fate was known. Nothing was recorded: the intent stays executing, and is settled by its
    signature (looked up, resent as the same bytes while its blockhash is valid) once the
    cluster answers; the daemon retries it, and a start settles whatever is left.

    Not a ClusterUnavailable ("nothing happened, try again"): something may have happened,
    and only the signature may be retried, never a rebuilt transaction."""

    def __init__(self, what: str, detail: str = "") -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}" if detail else what)


class Settler:
    """Settles reserved fills on the cluster ``executor`` reaches (``signer`` signs for it), and
    records what happened through ``recorder``. Without an executor (paper mode, or giving
    back what a rebuilt in-process chain lost) only :meth:`settle_leftovers` with ``abandon``
    may be called."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        store: Store,
        tokens: TokenRegistry,
        metrics: Metrics,
        mode: str,
        executor: ChainExecutor | None = None,
        signer: LegSigner | None = None,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.tokens = tokens
        self.metrics = metrics
        self.mode = mode
        self.executor = executor
        # Re-signs a dry-run leg on a fresh blockhash when a crash left it to simulate again.
        self._signer = signer

    async def settle(self, plan: Plan, executing: Outcome) -> Outcome:
        """Simulate or send each reserved leg's transaction, then record what happened."""
        assert self.executor is not None and plan.intent is not None
        fills = executing.legs[len(plan.failures) :]
        chains = [leg.chain or {} for leg in fills]
        planned = [leg.realised_out or 0 for leg in fills]
        reports: list[ExecutionReport] = []
        for candidate, chain, out in zip(plan.fills, chains, planned, strict=True):
            failed = next((r for r in reports if not r.ok), None)
            if self.mode == "send" and failed is not None:
                # The wallet signed for the whole amount, not a part: once a leg has failed
                # the others are not sent, and their books are given back.
                reports.append(_not_sent(failed))
                continue
            prepared = self.executor.reload(chain, plan.intent.wallet, candidate, plan.terms)
            report = await self.executor.execute(prepared, out)
            if self.mode == "send" and report.reason is Reason.CLUSTER_UNAVAILABLE:
                # Sent, or perhaps sent, and no answer: only its signature can tell whether it
                # landed. Nothing is recorded (a failure would give back books that may have
                # moved on chain); the intent stays executing, to be settled by signature.
                raise SettlementInDoubt("settling a sent transaction", report.error or "")
            reports.append(report)
        return await self._record_reports(plan, chains, reports, planned)

    async def _record_reports(
        self,
        plan: Plan,
        chains: list[dict[str, Any]],
        reports: list[ExecutionReport],
        planned: list[int],
    ) -> Outcome:
        legs: list[LegOutcome] = []
        for candidate, prepared, report in zip(plan.fills, chains, reports, strict=True):
            chain = {
                **prepared,
                "units_consumed": report.units_consumed,
                "slot": report.slot,
                "error": report.error,
                "logs": "\n".join(report.logs),
            }
            result = (
                "built"
                if report.built
                else "ok"
                if report.ok
                else "cancelled"
                if report.cancelled
                else "failed"
            )
            self.metrics.executions.labels(self.mode, result).inc()
            if self.executor is not None:
                self.executor.measured(candidate.quote.venue, report.units_consumed)
            if report.cancelled:
                assert report.reason is not None
                legs.append(
                    LegOutcome(LegStatus.CANCELLED, None, chain, report.reason, report.error or "")
                )
            elif report.built:
                legs.append(LegOutcome(LegStatus.BUILT, None, chain))
            elif report.ok:
                legs.append(LegOutcome(LegStatus.FILLED, report.realised_out, chain))
            else:
                assert report.reason is not None
                legs.append(
                    LegOutcome(LegStatus.FAILED, None, chain, report.reason, report.error or "")
                )
        return await self.recorder.finish(plan, self._final(legs), planned)

    def _final(self, legs: list[LegOutcome]) -> Final:
        failed = [leg for leg in legs if leg.status is LegStatus.FAILED]
        if not failed:
            detail = ""
            if any(leg.status is LegStatus.BUILT for leg in legs):
                detail = BUILT_DETAIL
            return Final(Status.FILLED, None, detail, writes_intent=True, legs=tuple(legs))
        if self.mode == "dry-run":
            # Nothing happened on chain: the legs that simulated fine are given back with the
            # one that did not, so the books never keep half an intent.
            legs = [
                replace(leg, status=LegStatus.CANCELLED, reason=failed[0].reason)
                if leg.status is not LegStatus.FAILED
                else leg
                for leg in legs
            ]
        first = failed[0]
        return Final(
            Status.FAILED, first.reason, first.detail, writes_intent=True, legs=tuple(legs)
        )

    async def settle_leftovers(
        self, *, abandon: bool, ours: Callable[[str | None], bool] = lambda _replica: True
    ) -> list[Outcome]:
        """Finish plans a crash left EXECUTING, before any new work starts.

        With ``abandon`` (sending on the in-process cluster, which a restart rebuilt) their
        transactions are gone: each leg fails and its books and usage are given back.
        Otherwise a sent transaction is confirmed by its stored signature before anything is
        rebuilt, and a dry-run is simply simulated again on a fresh blockhash. ``ours`` says
        which reserving replicas this one may settle for (itself and the dead ones).
        """
        leftovers = await self.store.read(intent_rows.executing_intents)
        outcomes = []
        for leftover in leftovers:
            if not ours(leftover.intent.replica):
                # A live replica reserved it and may be sending it now: it finishes its own
                # (and, should it die, whoever takes over its submission settles it then).
                continue
            try:
                outcomes.append(await self._settle_leftover(leftover, abandon=abandon))
            except IntegrityError:
                # Another replica recorded its end first (the submission row is unique): the
                # books were moved once, by that replica, and this attempt rolled back.
                log.warning("settled_elsewhere", intent_id=leftover.intent.id)
        return outcomes

    async def _settle_leftover(
        self, leftover: intent_rows.ExecutingIntent, *, abandon: bool
    ) -> Outcome:
        plan, chains, planned = self._plan_from_rows(leftover)
        if not abandon:
            return await self._settle_stored(plan, chains, planned)
        lost = LegOutcome(
            LegStatus.FAILED, reason=Reason.TRANSACTION_EXPIRED, detail="lost with the local chain"
        )
        final = Final(
            Status.FAILED,
            Reason.TRANSACTION_EXPIRED,
            "the local chain was rebuilt before the outcome was known",
            writes_intent=True,
            legs=tuple(replace(lost, chain=chain) for chain in chains),
        )
        return await self.recorder.finish(plan, final, planned)

    async def settle_one(
        self, leftover: intent_rows.ExecutingIntent, submission: Submission
    ) -> Outcome:
        """A submission met again (after an outage) whose fill is still executing: settle it."""
        plan, chains, planned = self._plan_from_rows(leftover)
        plan.submission = submission
        return await self._settle_stored(plan, chains, planned)

    def _plan_from_rows(
        self, leftover: intent_rows.ExecutingIntent
    ) -> tuple[Plan, list[dict[str, Any]], list[int]]:
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
        # What was received, as the reservation stored it (rows reserved before migration 0004
        # have none: the verification time stands in for the arrival).
        submission = Submission(
            row.submission_source,
            row.submission_ref,
            row.submission_name or "",
            None,
            (row.received_at or row.created_at).timestamp(),
            recorded_digest=row.submission_digest,
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
            arrival=Arrival(
                row.arrival_mid, row.arrival_price_source or "", row.arrival_price_age_s
            )
            if row.arrival_mid is not None and row.arrival_price_age_s is not None
            else None,
            min_out=row.min_out,
            venues=tuple(v for v in row.venues.split(",") if v),
            notional_micros=row.notional_usd_micros,
            day=row.usage_day,
        )
        chains: list[dict[str, Any]] = []
        planned: list[int] = []
        for leg in leftover.legs:
            candidate = _candidate_from_leg(leg)
            if leg.status == "executing":
                assert leg.realised_out is not None
                plan.fills.append(candidate)
                chains.append({column: getattr(leg, column) for column in CHAIN_COLUMNS})
                planned.append(leg.realised_out)
            else:
                plan.failures.append((candidate, LegFailed(Reason(leg.reason), "")))
        assert plan.fills, "an executing intent has at least one executing leg"
        return plan, chains, planned

    async def _settle_stored(
        self, plan: Plan, chains: list[dict[str, Any]], planned: list[int]
    ) -> Outcome:
        assert self.executor is not None and plan.intent is not None
        wallet = plan.intent.wallet
        reports: list[ExecutionReport] = []
        if self.mode == "send":
            for candidate, chain, out in zip(plan.fills, chains, planned, strict=True):
                prepared = self.executor.reload(chain, wallet, candidate, plan.terms)
                failed = next((r for r in reports if not r.ok), None)
                if failed is None:
                    report = await self.executor.settle_leftover(prepared, out)
                else:
                    # As on the live path, nothing more is sent once a leg has failed; but this
                    # one may have gone out before the crash, so its signature is awaited
                    # (never resent) until its blockhash expires.
                    report = await self.executor.await_landing(prepared, out)
                    if report.reason is Reason.TRANSACTION_EXPIRED:
                        report = _not_sent(failed)
                if not report.ok and report.reason is Reason.CLUSTER_UNAVAILABLE:
                    # Its fate must be known before anything else runs; the operator retries.
                    raise SettlementInDoubt(
                        "settling a transaction sent before a restart", report.error or ""
                    )
                reports.append(report)
            return await self._record_reports(plan, chains, reports, planned)
        plan.blockhash = await self.executor.blockhash()
        simulated: list[dict[str, Any]] = []
        for index, (candidate, chain, out) in enumerate(
            zip(plan.fills, chains, planned, strict=True)
        ):
            if candidate.quote.venue in EXTERNAL_VENUES:
                # A venue-built swap cannot be rebuilt from SQL; its simulation replaces the
                # blockhash anyway, so the stored transaction is run as it is.
                prepared = self.executor.reload(chain, wallet, candidate, plan.terms)
            else:
                assert self._signer is not None
                prepared = self._signer.prepare(plan, index, out)
                chain = {
                    **chain,
                    "transaction": prepared.transaction,
                    "signature": prepared.signature,
                    "last_valid_block_height": prepared.last_valid_block_height,
                }
            simulated.append(chain)
            reports.append(await self.executor.execute(prepared, out))
        return await self._record_reports(plan, simulated, reports, planned)


def _not_sent(failed: ExecutionReport) -> ExecutionReport:
    return replace(
        failed,
        error="not sent: an earlier leg of this intent failed",
        realised_out=None,
        units_consumed=None,
        slot=None,
        logs=(),
        cancelled=True,
    )


def _candidate_from_leg(leg: Row[Any]) -> Candidate:
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
        firm=leg.firm if leg.firm is not None else leg.venue == "otc",
        details=json.loads(leg.quote_details or "{}"),
    )
    return Candidate(quote, 0, leg.expected_out, Verdict.CHOSEN)
