"""One submission, from bytes to a terminal state: verify → check → quote → decide → execute → record.

Verification, policy, quoting and the routing decision run in memory. The outcome is then
committed by the recorder in one transaction together with its effects (the fill's move of
the venue's books, the wallet's daily usage, the submission row with its result document),
so a crash at any point leaves either nothing or a finished record. A submission claimed by
an earlier run is looked up first and, if recorded, only reported again: nothing runs twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from sqlalchemy import Connection

from agent.domain.costs import lamports_in_token_units, leg_cost_lamports
from agent.domain.intent import IntentMessage, check_timing
from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.domain.policy import check_trade, micros, resolve_tokens
from agent.domain.prices import PriceOracle, PricePoint, PriceUnavailable
from agent.domain.quotes import Quote, QuoteRequest
from agent.domain.router import Router
from agent.domain.routing import Candidate, Decision, decide_single_venue
from agent.domain.shortfall import Arrival, arrival_mid
from agent.domain.tokens import Token, TokenRegistry
from agent.ledger.group_commit import Recorder
from agent.ledger.plans import (
    Final,
    Outcome,
    Plan,
    PlanKind,
    Submission,
    recorded_outcome,
)
from agent.ledger.rendering import render, route_savings
from agent.metrics.catalog import Metrics
from agent.metrics.observations import size_bucket
from agent.pipeline.deadlines import DeadlineWaiter
from agent.pipeline.legs import LegPlanner, Routing
from agent.pipeline.preparation import failed_leg, place, prepare_legs, shares_for
from agent.pipeline.verification import verify_submission
from agent.settlement.executor import ChainExecutor
from agent.settlement.settler import Settler
from agent.store import intents as intent_rows
from agent.store.database import Store
from agent.store.wallet_registry import WalletRegistry
from agent.venues.base import LegFailed, Venue

__all__ = ["Outcome", "Pipeline", "PipelineSettings", "Submission"]

log = structlog.get_logger("agent.pipeline")

# Signatures a leg's transaction needs, by venue: the taker alone for a swap built from an API,
# the taker and the pool's authority for a settlement with an OTC or local DEX pool.
VENUE_SIGNATURES = {"jupiter": 1, "otc": 2, "localdex": 2}


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    cluster: str
    mode: str
    max_ttl_s: int
    default_slippage_bps: int
    max_slippage_bps: int
    enabled_venues: tuple[str, ...]
    # Each leg's priority fee: its compute-unit limit and price (micro-lamports per unit).
    compute_unit_limit: int = 0
    compute_unit_price_micro_lamports: int = 0


class Pipeline:
    """Decides each submission and hands its plan to ``recorder``; dry-run and send fills are
    then settled by ``settler`` on the cluster ``executor`` reaches (paper mode has neither).
    Every collaborator is built by :mod:`agent.app` and handed over here."""

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
        router: Router,
        waiter: DeadlineWaiter,
        planner: LegPlanner,
        recorder: Recorder,
        settler: Settler,
        executor: ChainExecutor | None = None,
        replica_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.store = store
        self.tokens = tokens
        self.wallets = wallets
        self.oracle = oracle
        self.venues = {venue.name: venue for venue in venues}
        self.router = router
        # Venues are waited on no longer than an intent has left (agent.pipeline.deadlines).
        self.waiter = waiter
        self.planner = planner
        self.metrics = metrics
        self.clock = clock
        # "<host>/<owner>" of this replica: recorded on every fill it reserves.
        self.replica_id = replica_id
        self.recorder = recorder
        self.settler = settler
        self._sol = tokens.by_symbol("SOL")

    async def settle_leftovers(
        self, *, abandon: bool, ours: Callable[[str | None], bool] = lambda _replica: True
    ) -> int:
        """Finish what a crash left executing (of the replicas ``ours`` accepts); each is
        counted like any other outcome."""
        outcomes = await self.settler.settle_leftovers(abandon=abandon, ours=ours)
        for outcome in outcomes:
            self._count(outcome)
        return len(outcomes)

    async def aclose(self) -> None:
        await self.recorder.aclose()

    async def process(self, submission: Submission) -> Outcome:
        started = time.perf_counter()
        if submission.resumed:
            recorded = await self.store.read(
                intent_rows.get_submission, submission.source, submission.ref
            )
            if recorded is not None:
                return recorded_outcome(submission, recorded)
            if (settled := await self._settle_executing(submission)) is not None:
                return settled
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
        return Plan(
            kind=PlanKind.REJECT,
            submission=submission,
            mode=self.settings.mode,
            replica=self.replica_id,
        )

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
        sell_point, buy_point = await self._points(sell, buy)
        sell_usd, buy_usd = sell_point.usd, buy_point.usd
        # The market when the intent was read: what its execution is measured against.
        age = max(0.0, self.clock() - min(sell_point.observed_at, buy_point.observed_at))
        plan.arrival = Arrival(
            mid=arrival_mid(sell_usd, sell.decimals, buy_usd, buy.decimals),
            source=f"{sell_point.source}/{buy_point.source}",
            age_s=Decimal(f"{age:.3f}"),
            lamport_mid=await self._lamport_mid(buy, buy_usd),
        )
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

    async def _lamport_mid(self, buy: Token, buy_usd: Decimal) -> Decimal | None:
        """What a lamport of fees is worth in the bought token's base units, now."""
        if self._sol is None:
            return None
        try:
            sol_usd = (await self.oracle.price(self._sol)).usd
        except PriceUnavailable:
            return None
        return arrival_mid(sol_usd, self._sol.decimals, buy_usd, buy.decimals)

    async def _points(self, sell: Token, buy: Token) -> tuple[PricePoint, PricePoint]:
        try:
            return await self.oracle.price(sell), await self.oracle.price(buy)
        except PriceUnavailable as exc:
            raise IntentRejected(Reason.NO_PRICE, str(exc)) from None

    async def _prices(self, sell: Token, buy: Token) -> tuple[Decimal, Decimal]:
        sell_point, buy_point = await self._points(sell, buy)
        return sell_point.usd, buy_point.usd

    @staticmethod
    def _request(plan: Plan) -> QuoteRequest:
        terms = plan.terms
        assert terms is not None and plan.min_out is not None and plan.intent is not None
        return QuoteRequest(
            terms.sell.mint,
            terms.buy.mint,
            terms.amount,
            plan.min_out,
            terms.slippage_bps,
            taker=plan.intent.wallet,
            not_after=float(plan.intent.not_after),
        )

    async def _costs(self, buy: Token) -> tuple[Callable[[Quote], int], Callable[[str], int]]:
        """A quote's and a venue's per-leg network cost, in units of the bought token."""
        if self._sol is None:
            return (lambda _quote: 0), (lambda _venue: 0)
        sol_usd, buy_usd = await self._prices(self._sol, buy)

        def in_buy_token(signatures: int) -> int:
            lamports = leg_cost_lamports(
                signatures=signatures,
                compute_unit_limit=self.settings.compute_unit_limit,
                unit_price_micro_lamports=self.settings.compute_unit_price_micro_lamports,
            )
            return lamports_in_token_units(lamports, sol_usd, buy_usd, buy.decimals)

        return (
            lambda quote: in_buy_token(quote.signatures),
            lambda venue: in_buy_token(VENUE_SIGNATURES.get(venue, 2)),
        )

    async def decide(
        self, request: QuoteRequest, buy: Token, reference_out: int, venues: Sequence[str]
    ) -> tuple[Decision, Routing]:
        """Quote every venue, then decide: the best single venue and the allocation to fill
        (a split where that pays), each leg quoted at its size. Raises IntentRejected
        (no_price) when the network cost cannot be valued."""
        now = self.clock()
        quotes, misses, curves = await self.planner.gather(request, venues, now)
        cost, leg_cost = await self._costs(buy)
        routing = Routing(request, quotes, misses, curves, cost, leg_cost)
        self.router.observe_price(
            routing.pair, now, Decimal(reference_out) / Decimal(request.amount)
        )
        decision = decide_single_venue(
            quotes, misses, min_out=request.min_out, network_cost_out=cost, now=self.clock()
        )
        legs = await self.planner.legs(routing, self.clock())
        decision = replace(
            decision,
            split=tuple(legs),
            misses=tuple(routing.misses),
            reason=None if legs else decision.reason,
            considered=routing.allocation.considered if routing.allocation else 0,
        )
        return decision, routing

    async def _route_and_execute(self, plan: Plan, started: float) -> Outcome:
        assert plan.terms is not None and plan.min_out is not None
        try:
            decision, routing = await self.decide(
                self._request(plan), plan.terms.buy, plan.terms.reference_out, plan.venues
            )
        except IntentRejected as rejection:
            plan.kind, plan.reason, plan.detail = (
                PlanKind.ROUTED,
                rejection.reason,
                rejection.detail,
            )
            return await self._record(plan)
        plan.decision, plan.latency_s = decision, time.perf_counter() - started
        self.metrics.decision_latency.observe(plan.latency_s)
        if not decision.planned:
            plan.kind, plan.reason = PlanKind.ROUTED, decision.reason or Reason.NO_ROUTE
            plan.detail = f"{len(routing.quotes)} quotes, no allocation meets min_out"
            return await self._record(plan)
        self.metrics.route_decision(decision.planned)
        return await self._execute(plan, decision, routing)

    async def _execute(self, plan: Plan, decision: Decision, routing: Routing) -> Outcome:
        """Fill the decided legs; a leg that declines is left out and the rest re-planned."""
        assert plan.intent is not None
        excluded = routing.excluded
        legs = list(decision.planned)
        while True:
            if not legs:
                break
            if self.clock() > plan.intent.not_after:
                plan.failures.append(
                    (legs[0], LegFailed(Reason.DEADLINE_PASSED, "not_after has passed"))
                )
                break
            shares = shares_for(routing, legs, plan.min_out or 0)
            try:
                plan.fills, plan.swaps = await prepare_legs(
                    plan,
                    legs,
                    shares,
                    venues=self.venues,
                    executor=self.executor,
                    waiter=self.waiter,
                    now=self.clock(),
                )
            except LegFailed as declined:
                self._failed(plan, failed_leg(legs, declined), declined, excluded)
                legs = await self._replan(routing, excluded)
                continue
            if self.clock() > plan.intent.not_after:
                # Last looks and swap builds take time: nothing is reserved after the deadline.
                plan.failures.append(
                    (legs[0], LegFailed(Reason.DEADLINE_PASSED, "not_after has passed"))
                )
                break
            plan.kind = PlanKind.FILL
            if self.executor is not None:
                # Fresh for the settlements signed at reservation: last looks and re-plans
                # may have taken a while since the swaps were built.
                plan.blockhash = await self.executor.blockhash()
            result = await self.recorder.submit(plan)
            if isinstance(result, Outcome):
                for candidate in plan.fills:
                    self.router.filled(place(candidate), self.clock())
                if result.status is Status.EXECUTING:
                    result = await self.settler.settle(plan, result)
                if result.status is Status.FILLED:
                    self._count_savings(plan, decision)
                return result
            self._failed(plan, failed_leg(plan.fills, result), result, excluded)
            legs = await self._replan(routing, excluded)
        last = plan.failures[-1][1]
        plan.kind, plan.fills, plan.swaps = PlanKind.ROUTED, [], {}
        plan.reason, plan.detail = last.reason, last.detail
        return await self._record(plan)

    def _count_savings(self, plan: Plan, decision: Decision) -> None:
        savings = route_savings(plan, decision)
        for baseline, bps in (
            ("best_single", savings.vs_best_single_bps),
            ("jupiter", savings.vs_jupiter_bps),
        ):
            if bps is not None:
                self.metrics.savings.labels(baseline).observe(float(bps))
        if savings.usd_micros:
            # Gains and losses alike: a route that delivered less than the best single venue
            # could have counts against the total, not nothing.
            assert plan.terms is not None
            direction = "gain" if savings.usd_micros > 0 else "loss"
            self.metrics.savings_usd.labels(size_bucket(plan.terms.notional_usd), direction).inc(
                abs(savings.usd_micros) / 1_000_000
            )
        if len(plan.fills) > 1:
            self.metrics.splits.labels(str(len(plan.fills))).inc()

    def _failed(
        self,
        plan: Plan,
        candidate: Candidate,
        failed: LegFailed,
        excluded: set[tuple[str, str]],
    ) -> None:
        plan.failures.append((candidate, failed))
        excluded.add(place(candidate))
        if failed.reason is Reason.LAST_LOOK_REJECTED:
            self.router.faded(place(candidate), self.clock())

    async def _replan(self, routing: Routing, excluded: set[tuple[str, str]]) -> list[Candidate]:
        """After a failed leg: a new allocation without it; failing that, the best single
        venue not yet tried (when no allocation was possible, e.g. without curves)."""
        legs = await self.planner.legs(routing, self.clock())
        if legs:
            return legs
        decision = decide_single_venue(
            [q for q in routing.quotes if (q.venue, q.source) not in excluded],
            [],
            min_out=routing.request.min_out,
            network_cost_out=routing.cost_out,
            now=self.clock(),
        )
        return list(decision.planned)

    async def _record(self, plan: Plan) -> Outcome:
        """Commit an outcome that involves no fill (those cannot be refused)."""
        result = await self.recorder.submit(plan)
        assert isinstance(result, Outcome), "only a fill can be refused"
        return result

    async def _settle_executing(self, submission: Submission) -> Outcome | None:
        """The outcome of a fill this submission left executing, settled by its signature;
        None when it left none."""
        if self.executor is None:
            return None
        executing = await self.store.read(
            intent_rows.executing_intents, submission.source, submission.ref
        )
        if not executing:
            return None
        outcome = await self.settler.settle_one(executing[0], submission)
        self._count(outcome)
        return outcome

    async def record_internal_error(self, submission: Submission) -> Outcome:
        """A bug stopped this submission: end it with internal_error (never twice). A fill it
        left executing may be on chain: that is settled by its signature instead."""
        if (settled := await self._settle_executing(submission)) is not None:
            return settled
        plan = self._plan(submission)
        plan.reason, plan.detail = Reason.INTERNAL_ERROR, "the agent failed; see its log"
        final = Final(Status.FAILED, plan.reason, plan.detail, writes_intent=False)
        outcome = await self.store.write(_record_once, plan, final, self.clock())
        self._count(outcome)
        return outcome

    def _count(self, outcome: Outcome) -> None:
        self.metrics.outcome(outcome, self.clock())


def _record_once(connection: Connection, plan: Plan, final: Final, now: float) -> Outcome:
    recorded = intent_rows.get_submission(connection, plan.submission.source, plan.submission.ref)
    if recorded is not None:
        return recorded_outcome(plan.submission, recorded)
    rendered = render(plan, final, now)
    intent_rows.insert_rows(connection, rendered.rows)
    return rendered.outcome
