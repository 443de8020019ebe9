"""One submission, from bytes to a terminal state: verify → check → quote → decide → execute → record.

Verification, policy, quoting and the routing decision run in memory. The outcome is then
committed by the recorder in one transaction together with its effects (the fill's move of
the venue's books, the wallet's daily usage, the submission row with its result document),
so a crash at any point leaves either nothing or a finished record. A submission claimed by
an earlier run is looked up first and, if recorded, only reported again: nothing runs twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import Connection

from agent.domain.costs import LAMPORTS_PER_SIGNATURE, lamports_in_token_units
from agent.domain.intent import IntentMessage, check_timing, parse_json_object, parse_message
from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.domain.policy import TradeTerms, check_trade, micros, resolve_tokens
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.routing import Candidate, Decision, Verdict, decide_single_venue
from agent.domain.tokens import Token, TokenRegistry
from agent.executor import ChainExecutor, ExecutionReport, PreparedLeg
from agent.metrics import Metrics
from agent.pricing.oracle import PriceOracle, PriceUnavailable
from agent.recorder import Recorder
from agent.records import Final, Outcome, Plan, PlanKind, Submission, render, result_name
from agent.results import CHAIN_COLUMNS
from agent.store import intents as intent_rows
from agent.store.database import Store
from agent.venues.base import LegFailed, Venue
from agent.verification import verify_submission
from agent.wallets import WalletRegistry
from onchain.cluster import ClusterUnavailable

__all__ = ["Outcome", "Pipeline", "PipelineSettings", "Submission"]

log = structlog.get_logger("agent.pipeline")


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    cluster: str
    mode: str
    max_ttl_s: int
    default_slippage_bps: int
    max_slippage_bps: int
    enabled_venues: tuple[str, ...]


class Pipeline:
    def __init__(
        self,
        *,
        settings: PipelineSettings,
        store: Store,
        tokens: TokenRegistry,
        wallets: WalletRegistry,
        oracle: PriceOracle,
        venues: Sequence[Venue],
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        executor: ChainExecutor | None = None,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.store = store
        self.tokens = tokens
        self.wallets = wallets
        self.oracle = oracle
        self.venues = {venue.name: venue for venue in venues}
        self.metrics = metrics
        self.clock = clock
        self.recorder = Recorder(store, self.venues, clock=clock)
        if executor is not None:
            self.attach_executor(executor)
        self._sol = tokens.by_symbol("SOL")

    def attach_executor(self, executor: ChainExecutor) -> None:
        """Dry-run and send: fills are reserved, then simulated or sent (see _settle)."""
        self.executor = executor
        self.recorder.attach_preparer(self._prepare)

    def _prepare(self, plan: Plan, realised_out: int) -> PreparedLeg:
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
        )

    async def aclose(self) -> None:
        await self.recorder.aclose()

    async def process(self, submission: Submission) -> Outcome:
        started = time.perf_counter()
        if submission.resumed:
            recorded = await self.store.read(
                intent_rows.get_submission, submission.source, submission.ref
            )
            if recorded is not None:
                return _recorded_outcome(submission, recorded)
        plan = self._plan(submission)
        try:
            intent, plan.message, plan.signature = self._verify(submission)
            # Once the signature holds, the intent id is the wallet's own and names the result;
            # a rejection before routing still leaves the id and nonce unconsumed.
            plan.intent, plan.verified_at = intent, self.clock()
            await self._check(plan, intent)
        except IntentRejected as rejection:
            plan.kind, plan.reason, plan.detail = (
                PlanKind.REJECT,
                rejection.reason,
                rejection.detail,
            )
            outcome = await self._record(plan)
        else:
            outcome = await self._route_and_execute(plan, started)
        self.metrics.processing_latency.observe(time.perf_counter() - started)
        self._count(outcome)
        return outcome

    def _plan(self, submission: Submission) -> Plan:
        return Plan(kind=PlanKind.REJECT, submission=submission, mode=self.settings.mode)

    def _verify(self, submission: Submission) -> tuple[IntentMessage, str, str]:
        if submission.unreadable is not None:
            raise submission.unreadable
        assert submission.raw is not None
        return verify_submission(submission.raw)

    async def _check(self, plan: Plan, intent: IntentMessage) -> None:
        """Who, where, when and what: every check that needs no database."""
        policy = await self.wallets.get(intent.wallet)
        if policy is None:
            raise IntentRejected(Reason.UNKNOWN_WALLET, f"wallet {intent.wallet} is not registered")
        if intent.cluster != self.settings.cluster:
            raise IntentRejected(
                Reason.WRONG_CLUSTER,
                f"intent is for {intent.cluster}, the agent runs {self.settings.cluster}",
            )
        check_timing(intent, self.clock(), self.settings.max_ttl_s)
        sell, buy = resolve_tokens(intent, self.tokens)
        sell_usd, buy_usd = await self._prices(sell, buy)
        terms = check_trade(
            intent,
            policy,
            sell,
            buy,
            sell_usd,
            buy_usd,
            default_slippage_bps=self.settings.default_slippage_bps,
            max_slippage_bps=self.settings.max_slippage_bps,
        )
        enabled = self.settings.enabled_venues
        plan.terms, plan.min_out = terms, terms.min_out
        plan.venues = tuple(v for v in (intent.venues or enabled) if v in enabled)
        plan.notional_micros = micros(terms.notional_usd)
        plan.daily_limit_micros = micros(policy.daily_notional_usd)
        plan.day = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        if plan.notional_micros > plan.daily_limit_micros:
            raise IntentRejected(Reason.DAILY_LIMIT, "the trade alone exceeds the daily limit")

    async def _prices(self, sell: Token, buy: Token) -> tuple[Decimal, Decimal]:
        try:
            return (await self.oracle.price(sell)).usd, (await self.oracle.price(buy)).usd
        except PriceUnavailable as exc:
            raise IntentRejected(Reason.NO_PRICE, str(exc)) from None

    async def _quote(self, plan: Plan) -> tuple[list[Quote], list[QuoteMiss]]:
        terms = plan.terms
        assert terms is not None and plan.min_out is not None
        request = QuoteRequest(
            terms.sell.mint, terms.buy.mint, terms.amount, plan.min_out, terms.slippage_bps
        )
        now = self.clock()
        answers = await asyncio.gather(
            *(self.venues[name].quote(request, now) for name in plan.venues if name in self.venues)
        )
        quotes = [a for answer in answers for a in answer if isinstance(a, Quote)]
        misses = [a for answer in answers for a in answer if isinstance(a, QuoteMiss)]
        return quotes, misses

    async def _network_cost(self, buy: Token) -> Callable[[Quote], int]:
        if self._sol is None:
            return lambda _quote: 0
        sol_usd, buy_usd = await self._prices(self._sol, buy)
        return lambda quote: lamports_in_token_units(
            quote.signatures * LAMPORTS_PER_SIGNATURE, sol_usd, buy_usd, buy.decimals
        )

    async def _route_and_execute(self, plan: Plan, started: float) -> Outcome:
        assert plan.terms is not None and plan.min_out is not None
        try:
            quotes, misses = await self._quote(plan)
            cost = await self._network_cost(plan.terms.buy)
        except IntentRejected as rejection:
            plan.kind, plan.reason, plan.detail = (
                PlanKind.ROUTED,
                rejection.reason,
                rejection.detail,
            )
            return await self._record(plan)
        decision = decide_single_venue(
            quotes, misses, min_out=plan.min_out, network_cost_out=cost, now=self.clock()
        )
        plan.decision, plan.latency_s = decision, time.perf_counter() - started
        self.metrics.decision_latency.observe(plan.latency_s)
        if decision.chosen is None:
            assert decision.reason is not None
            plan.kind, plan.reason = PlanKind.ROUTED, decision.reason
            plan.detail = f"{len(quotes)} quotes, none meets min_out"
            return await self._record(plan)
        self.metrics.route_decisions.labels(decision.chosen.quote.venue).inc()
        return await self._execute(plan, decision)

    async def _execute(self, plan: Plan, decision: Decision) -> Outcome:
        """Fill the best candidate; if it declines, fall back down the ranking."""
        assert plan.intent is not None
        for candidate in decision.ranked:
            if self.clock() > plan.intent.not_after:
                plan.failures.append(
                    (candidate, LegFailed(Reason.DEADLINE_PASSED, "not_after has passed"))
                )
                break
            if candidate.quote.expires_at < self.clock():
                plan.failures.append(
                    (
                        candidate,
                        LegFailed(Reason.QUOTE_EXPIRED, "the quote expired before the fill"),
                    )
                )
                continue
            try:
                await self.venues[candidate.quote.venue].prepare(candidate.quote)
            except LegFailed as declined:
                plan.failures.append((candidate, declined))
                continue
            plan.kind, plan.candidate = PlanKind.FILL, candidate
            if self.executor is not None:
                plan.blockhash = await self.executor.blockhash()
            result = await self.recorder.submit(plan)
            if isinstance(result, Outcome):
                if result.status is Status.EXECUTING:
                    return await self._settle(plan, result)
                return result
            plan.failures.append((candidate, result))
        last = plan.failures[-1][1]
        plan.kind, plan.candidate = PlanKind.ROUTED, None
        plan.reason, plan.detail = last.reason, last.detail
        return await self._record(plan)

    async def _settle(self, plan: Plan, executing: Outcome) -> Outcome:
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
        self.metrics.executions.labels(self.settings.mode, "ok" if report.ok else "failed").inc()
        if report.units_consumed is not None:
            self.metrics.compute_units.observe(report.units_consumed)
        if report.ok:
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
            plan, planned_out = self._plan_from_rows(leftover)
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
                    chain=plan.blockhash,
                )
                await self.recorder.finish(plan, final, planned_out)
                continue
            chain = plan.blockhash
            plan.blockhash = None
            await self._settle_stored(plan, chain, planned_out)
        return len(leftovers)

    def _plan_from_rows(self, leftover: intent_rows.ExecutingIntent) -> tuple[Plan, int]:
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
            mode=self.settings.mode,
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
        # Carried in `blockhash` only until settled: the stored transaction's fields.
        plan.blockhash = {column: getattr(executed, column) for column in CHAIN_COLUMNS}
        return plan, executed.realised_out

    async def _settle_stored(self, plan: Plan, chain: dict, planned_out: int) -> Outcome:  # type: ignore[type-arg]
        assert self.executor is not None and plan.intent is not None and plan.candidate is not None
        if self.settings.mode == "send":
            prepared = self.executor.reload(chain, plan.intent.wallet, plan.candidate, plan.terms)
            report = await self.executor.settle_leftover(prepared, planned_out)
            if not report.ok and report.reason is Reason.CLUSTER_UNAVAILABLE:
                # Its fate must be known before anything else runs; the operator retries later.
                raise ClusterUnavailable(
                    "settling a transaction sent before a restart", report.error or ""
                )
            return await self._record_report(plan, chain, report, planned_out)
        plan.blockhash = await self.executor.blockhash()
        prepared = self._prepare(plan, planned_out)
        chain = {
            **chain,
            "transaction": prepared.transaction,
            "signature": prepared.signature,
            "last_valid_block_height": prepared.last_valid_block_height,
        }
        report = await self.executor.execute(prepared, planned_out)
        return await self._record_report(plan, chain, report, planned_out)

    async def _record(self, plan: Plan) -> Outcome:
        """Commit an outcome that involves no fill (those cannot be refused)."""
        result = await self.recorder.submit(plan)
        assert isinstance(result, Outcome), "only a fill can be refused"
        return result

    async def record_internal_error(self, submission: Submission) -> Outcome:
        """A bug stopped this submission: end it with internal_error (never twice)."""
        plan = self._plan(submission)
        plan.reason, plan.detail = Reason.INTERNAL_ERROR, "the agent failed; see its log"
        final = Final(Status.FAILED, plan.reason, plan.detail, writes_intent=False)
        outcome = await self.store.write(_record_once, plan, final, self.clock())
        self._count(outcome)
        return outcome

    def _count(self, outcome: Outcome) -> None:
        self.metrics.intents.labels(outcome.submission.source, outcome.status.value).inc()
        if outcome.reason is not None:
            self.metrics.rejections.labels(outcome.reason.value).inc()
        for leg in outcome.legs:
            self.metrics.legs.labels(leg.venue, leg.status).inc()
            if leg.realised_slippage_bps is not None:
                self.metrics.realised_slippage.labels(leg.venue).observe(
                    float(leg.realised_slippage_bps)
                )


def _recorded_outcome(submission: Submission, recorded: intent_rows.SubmissionRecord) -> Outcome:
    reason = Reason(recorded.reason) if recorded.reason else None
    return Outcome(
        submission=submission,
        status=Status(recorded.status),
        reason=reason,
        intent_id=recorded.intent_id,
        result_name=result_name(recorded.intent_id, reason, submission.ref),
        result=recorded.result,
    )


def _record_once(connection: Connection, plan: Plan, final: Final, now: float) -> Outcome:
    recorded = intent_rows.get_submission(connection, plan.submission.source, plan.submission.ref)
    if recorded is not None:
        return _recorded_outcome(plan.submission, recorded)
    rendered = render(plan, final, now)
    intent_rows.insert_rows(connection, rendered.rows)
    return rendered.outcome


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
