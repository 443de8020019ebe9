"""One submission, from bytes to a terminal state: verify → accept → quote → decide → execute → record.

Every terminal state is committed in one transaction together with its effects (the fill's
inventory move, the daily-usage refund, the submission row with its result document), so a
crash at any point either left nothing behind or left a state the next run can finish. A
submission whose intent was accepted before a crash resumes from its SQL row, never twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from sqlalchemy.exc import IntegrityError

from agent.domain.costs import LAMPORTS_PER_SIGNATURE, lamports_in_token_units
from agent.domain.intent import IntentMessage, check_timing
from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.domain.policy import TradeTerms, check_trade, micros, resolve_tokens
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.routing import Candidate, Decision, decide_single_venue, savings_bps
from agent.domain.tokens import Token, TokenRegistry
from agent.metrics import Metrics
from agent.pricing.oracle import PriceOracle, PriceUnavailable
from agent.results import LegReport, result_document
from agent.store import intents as records
from agent.store import wallets as usage
from agent.store.database import Store
from agent.venues.base import Fill, LegFailed, Venue
from agent.verification import verify_submission
from agent.wallets import WalletRegistry

__all__ = ["Outcome", "Pipeline", "PipelineSettings", "Submission"]

log = structlog.get_logger("agent.pipeline")


@dataclass(frozen=True, slots=True)
class Submission:
    source: str  # "directory" | "redis"
    ref: str  # unique per source: the claim id or the stream entry id
    name: str
    raw: bytes | None
    received_at: float
    unreadable: IntentRejected | None = None  # the intake could not read it safely
    resumed: bool = False  # claimed by an earlier run; may already be recorded


@dataclass(frozen=True, slots=True)
class Outcome:
    submission: Submission
    status: Status
    reason: Reason | None
    intent_id: str | None
    # Results are named after the intent only for the submission that owns the intent row;
    # a replay must not overwrite the original's result.
    result_name: str
    result: str  # the JSON document
    decision_venue: str | None = None
    legs: tuple[LegReport, ...] = field(default_factory=tuple)


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.tokens = tokens
        self.wallets = wallets
        self.oracle = oracle
        self.venues = {venue.name: venue for venue in venues}
        self.metrics = metrics
        self.clock = clock
        self._sol = tokens.by_symbol("SOL")

    async def process(self, submission: Submission) -> Outcome:
        started = time.perf_counter()
        if submission.resumed:
            async with self.store.reading() as connection:
                recorded = await records.get_submission(
                    connection, submission.source, submission.ref
                )
            if recorded is not None:
                return self._recorded_outcome(submission, recorded)
        intent: IntentMessage | None = None
        try:
            intent, message, signature = self._verify(submission)
            accepted = await self._accept(submission, intent, message, signature)
        except IntentRejected as rejection:
            # Once the signature holds, the intent id is the wallet's own and names the result.
            return await self._reject(
                submission, rejection, intent_id=intent.id if intent else None
            )
        outcome = await self._route_and_execute(submission, accepted, started)
        self.metrics.processing_latency.observe(time.perf_counter() - started)
        return outcome

    async def record_internal_error(self, submission: Submission) -> Outcome:
        """A bug stopped this submission: end it with internal_error, releasing what it held."""
        rejection = IntentRejected(Reason.INTERNAL_ERROR, "the agent failed; see its log")
        async with self.store.transaction() as connection:
            recorded = await records.get_submission(connection, submission.source, submission.ref)
            if recorded is not None:
                return self._recorded_outcome(submission, recorded)
            owned = await records.find_submission_intent(
                connection, submission.source, submission.ref
            )
            if owned is not None and owned.status == Status.ACCEPTED.value:
                await usage.release_usage(
                    connection, owned.wallet, owned.usage_day, owned.notional_usd_micros
                )
                await records.set_intent_status(
                    connection,
                    owned.id,
                    Status.FAILED,
                    reason=Reason.INTERNAL_ERROR,
                    detail=rejection.detail,
                )
            status = Status.FAILED if owned is not None else Status.REJECTED
            intent_id = owned.id if owned is not None else None
            document = result_document(
                submission=submission,
                status=status,
                reason=rejection.reason,
                detail=rejection.detail,
                intent=None,
                terms=None,
                min_out=None,
                decision=None,
                legs=[],
                mode=self.settings.mode,
                amount_out=None,
                claimed_intent_id=intent_id,
            )
            await self._record_submission(
                connection,
                submission,
                status,
                rejection.reason,
                rejection.detail,
                intent_id,
                document,
            )
        outcome = Outcome(
            submission,
            status,
            rejection.reason,
            intent_id,
            result_name(intent_id, rejection.reason, submission.ref),
            document,
        )
        self._count(outcome)
        return outcome

    # verify and accept

    def _verify(self, submission: Submission) -> tuple[IntentMessage, str, str]:
        if submission.unreadable is not None:
            raise submission.unreadable
        assert submission.raw is not None
        return verify_submission(submission.raw)

    async def _accept(
        self, submission: Submission, intent: IntentMessage, message: str, signature: str
    ) -> _Accepted:
        policy = await self.wallets.get(intent.wallet)
        if policy is None:
            raise IntentRejected(Reason.UNKNOWN_WALLET, f"wallet {intent.wallet} is not registered")
        if intent.cluster != self.settings.cluster:
            raise IntentRejected(
                Reason.WRONG_CLUSTER,
                f"intent is for {intent.cluster}, agent runs {self.settings.cluster}",
            )
        sell, buy = resolve_tokens(intent, self.tokens)
        sell_price, buy_price = await self._prices(sell, buy)
        terms = check_trade(
            intent,
            policy,
            sell,
            buy,
            sell_price,
            buy_price,
            default_slippage_bps=self.settings.default_slippage_bps,
            max_slippage_bps=self.settings.max_slippage_bps,
        )
        venues = tuple(
            v
            for v in (intent.venues or self.settings.enabled_venues)
            if v in self.settings.enabled_venues
        )
        day = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        notional = micros(terms.notional_usd)
        for attempt in range(2):
            try:
                async with self.store.transaction() as connection:
                    conflict = await records.find_conflict(
                        connection, intent.id, intent.wallet, intent.nonce
                    )
                    if conflict is not None:
                        reason, existing = conflict
                        if (existing.submission_source, existing.submission_ref) == (
                            submission.source,
                            submission.ref,
                        ) and existing.status == Status.ACCEPTED:
                            # Accepted by this same submission before a restart: carry on.
                            return _Accepted(
                                intent,
                                terms,
                                venues,
                                existing.min_out,
                                existing.usage_day,
                                existing.notional_usd_micros,
                                resumed=True,
                            )
                        raise IntentRejected(reason, f"already seen as intent {existing.id}")
                    check_timing(intent, self.clock(), self.settings.max_ttl_s)
                    if not await usage.reserve_usage(
                        connection, intent.wallet, day, notional, policy.daily_notional_usd
                    ):
                        raise IntentRejected(
                            Reason.DAILY_LIMIT,
                            f"the wallet's daily limit of ${policy.daily_notional_usd} would be exceeded",
                        )
                    await records.insert_intent(
                        connection,
                        {
                            "id": intent.id,
                            "wallet": intent.wallet,
                            "nonce": intent.nonce,
                            "cluster": intent.cluster,
                            "sell_mint": intent.sell_mint,
                            "buy_mint": intent.buy_mint,
                            "pair": f"{sell.symbol}/{buy.symbol}",
                            "amount": intent.amount,
                            "min_out": terms.min_out,
                            "slippage_bps": terms.slippage_bps,
                            "not_after": intent.not_after,
                            "venues": ",".join(venues),
                            "notional_usd_micros": notional,
                            "usage_day": day,
                            "submission_source": submission.source,
                            "submission_ref": submission.ref,
                            "message": message,
                            "signature": signature,
                        },
                    )
                return _Accepted(intent, terms, venues, terms.min_out, day, notional)
            except IntegrityError:
                # Another worker or replica took this id or nonce a moment ago: look again.
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    async def _prices(self, sell: Token, buy: Token) -> tuple[Decimal, Decimal]:
        try:
            return (await self.oracle.price(sell)).usd, (await self.oracle.price(buy)).usd
        except PriceUnavailable as exc:
            raise IntentRejected(Reason.NO_PRICE, str(exc)) from None

    # quote, decide, execute

    async def _quote(self, accepted: _Accepted) -> tuple[list[Quote], list[QuoteMiss]]:
        terms = accepted.terms
        request = QuoteRequest(
            terms.sell.mint, terms.buy.mint, terms.amount, accepted.min_out, terms.slippage_bps
        )
        now = self.clock()
        answers = await asyncio.gather(
            *(
                self.venues[name].quote(request, now)
                for name in accepted.venues
                if name in self.venues
            )
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

    async def _route_and_execute(
        self, submission: Submission, accepted: _Accepted, started: float
    ) -> Outcome:
        intent = accepted.intent
        bound = log.bind(intent_id=intent.id, wallet=intent.wallet)
        try:
            quotes, misses = await self._quote(accepted)
            cost = await self._network_cost(accepted.terms.buy)
        except IntentRejected as rejection:
            return await self._reject(submission, rejection, intent_id=intent.id, accepted=accepted)
        decision = decide_single_venue(
            quotes, misses, min_out=accepted.min_out, network_cost_out=cost, now=self.clock()
        )
        latency = time.perf_counter() - started
        self.metrics.decision_latency.observe(latency)
        if decision.chosen is None:
            assert decision.reason is not None
            rejection = IntentRejected(decision.reason, f"{len(quotes)} quotes, none meets min_out")
            return await self._reject(
                submission, rejection, intent_id=intent.id, accepted=accepted, decision=decision
            )
        self.metrics.route_decisions.labels(decision.chosen.quote.venue).inc()
        bound.debug(
            "routed", venue=decision.chosen.quote.venue, source=decision.chosen.quote.source
        )
        return await self._execute(submission, accepted, decision, latency)

    async def _execute(
        self, submission: Submission, accepted: _Accepted, decision: Decision, latency: float
    ) -> Outcome:
        failures: list[tuple[Candidate, LegFailed]] = []
        for candidate in decision.ranked:
            venue = self.venues[candidate.quote.venue]
            if self.clock() > accepted.intent.not_after:
                failures.append(
                    (candidate, LegFailed(Reason.DEADLINE_PASSED, "not_after has passed"))
                )
                break
            if candidate.quote.expires_at < self.clock():
                failures.append(
                    (candidate, LegFailed(Reason.QUOTE_EXPIRED, "quote expired before fill"))
                )
                continue
            try:
                await venue.prepare(candidate.quote)
            except LegFailed as failed:
                failures.append((candidate, failed))
                continue
            try:
                async with self.store.transaction() as connection:
                    fill = await venue.fill(connection, candidate.quote)
                    outcome = await self._record(
                        connection, submission, accepted, decision, latency, failures, fill
                    )
            except LegFailed as failed:
                failures.append((candidate, failed))
                continue
            venue.committed(fill)
            self._count(outcome)
            return outcome
        last = (
            failures[-1][1] if failures else LegFailed(Reason.NO_ROUTE, "no candidate to execute")
        )
        async with self.store.transaction() as connection:
            outcome = await self._record(
                connection, submission, accepted, decision, latency, failures, None, failure=last
            )
        self._count(outcome)
        return outcome

    # record

    async def _record(
        self,
        connection,
        submission: Submission,
        accepted: _Accepted,  # type: ignore[no-untyped-def]
        decision: Decision,
        latency: float,
        failures: list[tuple[Candidate, LegFailed]],
        fill: Fill | None,
        failure: LegFailed | None = None,
    ) -> Outcome:
        intent, terms = accepted.intent, accepted.terms
        chosen = decision.chosen
        assert chosen is not None
        await records.insert_quotes(connection, intent.id, decision.candidates, decision.misses)
        runner_up = decision.runner_up
        final = fill.quote if fill is not None else chosen.quote
        final_candidate = next(c for c in decision.ranked if c.quote is final)
        route_id = await records.insert_route(
            connection,
            {
                "intent_id": intent.id,
                "kind": "single",
                "venues": final.venue,
                "expected_out": final.expected_out,
                "guaranteed_out": final.guaranteed_out,
                "net_out": final_candidate.net_out,
                "runner_up_net_out": runner_up.net_out if runner_up else None,
                "savings_vs_runner_up_bps": savings_bps(final_candidate.net_out, runner_up.net_out)
                if runner_up and final_candidate is chosen
                else None,
                "savings_vs_best_single_bps": savings_bps(final_candidate.net_out, chosen.net_out),
                "decision_latency_s": Decimal(f"{latency:.6f}"),
            },
        )
        legs: list[LegReport] = []
        for index, (candidate, failed) in enumerate(failures):
            await self.venues[candidate.quote.venue].record_failure(
                connection, candidate.quote, failed.reason
            )
            legs.append(LegReport.failed(index, candidate.quote, failed.reason, failed.detail))
        if fill is not None:
            legs.append(LegReport.filled(len(legs), fill.quote, fill.realised_out))
        leg_ids = []
        for leg in legs:
            leg_ids.append(await records.insert_leg(connection, leg.row(route_id, intent.id)))
        if fill is not None:
            status, reason, detail, amount_out = Status.FILLED, None, "", fill.realised_out
            price = Decimal(fill.realised_out).scaleb(-terms.buy.decimals) / Decimal(
                terms.amount
            ).scaleb(-terms.sell.decimals)
            await records.insert_trade(
                connection,
                {
                    "intent_id": intent.id,
                    "leg_id": leg_ids[-1],
                    "venue": fill.quote.venue,
                    "source": fill.quote.source,
                    "wallet": intent.wallet,
                    "sell_mint": terms.sell.mint,
                    "buy_mint": terms.buy.mint,
                    "amount_in": terms.amount,
                    "amount_out": fill.realised_out,
                    "price": price.quantize(Decimal("1e-12")),
                    "notional_usd_micros": accepted.notional_micros,
                    "mode": self.settings.mode,
                },
            )
        else:
            assert failure is not None
            status, reason, detail, amount_out = Status.FAILED, failure.reason, failure.detail, None
            await usage.release_usage(
                connection, intent.wallet, accepted.day, accepted.notional_micros
            )
        await records.set_intent_status(
            connection, intent.id, status, reason=reason, detail=detail, amount_out=amount_out
        )
        document = result_document(
            submission=submission,
            status=status,
            reason=reason,
            detail=detail,
            intent=intent,
            terms=terms,
            min_out=accepted.min_out,
            decision=decision,
            legs=legs,
            mode=self.settings.mode,
            amount_out=amount_out,
        )
        await self._record_submission(
            connection, submission, status, reason, detail, intent.id, document
        )
        return Outcome(
            submission,
            status,
            reason,
            intent.id,
            intent.id,
            document,
            decision_venue=final.venue,
            legs=tuple(legs),
        )

    async def _reject(
        self,
        submission: Submission,
        rejection: IntentRejected,
        *,
        intent_id: str | None,
        accepted: _Accepted | None = None,
        decision: Decision | None = None,
    ) -> Outcome:
        document = result_document(
            submission=submission,
            status=Status.REJECTED,
            reason=rejection.reason,
            detail=rejection.detail,
            intent=accepted.intent if accepted else None,
            terms=accepted.terms if accepted else None,
            min_out=accepted.min_out if accepted else None,
            decision=decision,
            legs=[],
            mode=self.settings.mode,
            amount_out=None,
            claimed_intent_id=intent_id,
        )
        async with self.store.transaction() as connection:
            if accepted is not None:
                intent = accepted.intent
                if decision is not None:
                    await records.insert_quotes(
                        connection, intent.id, decision.candidates, decision.misses
                    )
                await usage.release_usage(
                    connection, intent.wallet, accepted.day, accepted.notional_micros
                )
                await records.set_intent_status(
                    connection,
                    intent.id,
                    Status.REJECTED,
                    reason=rejection.reason,
                    detail=rejection.detail,
                )
            await self._record_submission(
                connection,
                submission,
                Status.REJECTED,
                rejection.reason,
                rejection.detail,
                intent_id,
                document,
            )
        outcome = Outcome(
            submission,
            Status.REJECTED,
            rejection.reason,
            intent_id,
            result_name(intent_id, rejection.reason, submission.ref),
            document,
        )
        self._count(outcome)
        return outcome

    async def _record_submission(
        self,
        connection,
        submission: Submission,
        status: Status,  # type: ignore[no-untyped-def]
        reason: Reason | None,
        detail: str,
        intent_id: str | None,
        document: str,
    ) -> None:
        await records.record_submission(
            connection,
            source=submission.source,
            ref=submission.ref,
            name=submission.name,
            digest=hashlib.sha256(submission.raw or b"").hexdigest(),
            status=status,
            reason=reason,
            detail=detail,
            intent_id=intent_id,
            received_at=submission.received_at,
            result=document,
        )

    def _recorded_outcome(
        self, submission: Submission, recorded: records.SubmissionRecord
    ) -> Outcome:
        status = Status(recorded.status)
        reason = Reason(recorded.reason) if recorded.reason else None
        name = result_name(recorded.intent_id, reason, submission.ref)
        return Outcome(submission, status, reason, recorded.intent_id, name, recorded.result)

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


def result_name(intent_id: str | None, reason: Reason | None, ref: str) -> str:
    """out/<intent id>.result.json, except for replays (they must not overwrite the original)."""
    if intent_id is None or reason is Reason.REPLAYED_ID:
        return ref
    return intent_id


@dataclass(frozen=True, slots=True)
class _Accepted:
    intent: IntentMessage
    terms: TradeTerms
    venues: tuple[str, ...]
    min_out: int
    day: str
    notional_micros: int
    resumed: bool = False
