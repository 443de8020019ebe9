"""The recorder's batch rules: replays, daily limits, refused fills and one bad plan among many."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agent.app.assembly import Runtime, build_runtime
from agent.config import AgentConfig
from agent.domain.intent import IntentMessage
from agent.domain.outcomes import Reason, Status
from agent.domain.policy import TradeTerms, micros
from agent.domain.quotes import Quote, QuoteRequest
from agent.domain.routing import decide_single_venue
from agent.ledger.group_commit import Recorder
from agent.ledger.plans import Outcome, Plan, PlanKind, Submission
from agent.store.models import (
    IntentRow,
    OtcPoolRow,
    RouteLegRow,
    RouteRow,
    SubmissionRow,
    TradeRow,
)
from agent.venues.base import LegFailed

WALLET = "11111111111111111111111111111112"
DAY = "2026-11-24"


@pytest.fixture(name="runtime")
async def _runtime(make_config: Callable[..., AgentConfig], database_url: str):  # type: ignore[no-untyped-def]
    runtime = build_runtime(make_config(database_url, execution__mode="paper"))
    await runtime.start()
    yield runtime
    await runtime.aclose()


@pytest.fixture(name="recorder")
async def _recorder(runtime: Runtime):  # type: ignore[no-untyped-def]
    """A group commit built from plain parts: the store and the started venues."""
    venues = {venue.name: venue for venue in runtime.venues}
    recorder = Recorder(runtime.store, venues)
    yield recorder
    await recorder.aclose()


async def _plan(
    runtime: Runtime,
    *,
    amount_sol: Decimal,
    nonce: int,
    intent_id: str | None = None,
    daily_limit_usd: Decimal = Decimal(10**9),
    ref: str | None = None,
    venue: str = "otc",
) -> Plan:
    """A FILL plan for SOL→USDC on `venue`, built from a real quote."""
    now = time.time()
    sol, usdc = runtime.tokens.require("SOL"), runtime.tokens.require("USDC")
    amount = int(amount_sol * 10**9)
    intent = IntentMessage(
        id=intent_id or str(uuid.uuid4()), cluster="local", wallet=WALLET, sell_mint=sol.mint,
        buy_mint=usdc.mint, amount=amount, min_out=None, max_slippage_bps=100, nonce=nonce,
        not_after=int(now) + 60, venues=None,
    )  # fmt: skip
    notional = amount_sol * 150
    min_out = int(amount_sol * 150 * Decimal("0.99") * 10**6)
    terms = TradeTerms(sol, usdc, amount, min_out, 100, notional, int(amount_sol * 150 * 10**6))
    source = runtime.otc if venue == "otc" else runtime.localdex
    answers = await source.quote(QuoteRequest(sol.mint, usdc.mint, amount, min_out, 100), now)  # type: ignore[union-attr]
    decision = decide_single_venue(
        [a for a in answers if isinstance(a, Quote)], [], min_out=min_out,
        network_cost_out=lambda _q: 0, now=now,
    )  # fmt: skip
    assert decision.chosen is not None
    reference = ref or f"ref-{uuid.uuid4().hex[:8]}"
    return Plan(
        kind=PlanKind.FILL, submission=Submission("directory", reference, f"{reference}.json", b"{}", now),
        mode="paper", intent=intent, message="{}", signature="sig", verified_at=now, terms=terms,
        min_out=min_out, venues=(venue,), notional_micros=micros(notional), day=DAY,
        daily_limit_micros=micros(daily_limit_usd), decision=decision,
        fills=list(decision.planned),
    )  # fmt: skip


async def _submit_together(recorder: Recorder, plans: list[Plan]) -> list[Outcome | LegFailed]:
    """Submit concurrently so that the recorder takes them as one batch."""
    return list(await asyncio.gather(*(recorder.submit(p) for p in plans)))


async def _count(runtime: Runtime, table) -> int:  # type: ignore[no-untyped-def]
    return await runtime.store.read(lambda c: len(list(c.execute(select(table)))))


async def test_a_copy_of_an_id_in_the_same_batch_is_a_replay(
    runtime: Runtime, recorder: Recorder
) -> None:
    """Two plans with one intent id in one batch: the first fills, the second is replayed_id."""
    shared = str(uuid.uuid4())
    plans = [await _plan(runtime, amount_sol=Decimal(5), nonce=n, intent_id=shared) for n in (1, 2)]
    first, second = await _submit_together(recorder, plans)
    assert isinstance(first, Outcome) and first.status is Status.FILLED
    assert isinstance(second, Outcome) and second.reason is Reason.REPLAYED_ID
    assert second.result_name == plans[1].submission.ref
    assert await _count(runtime, TradeRow.__table__) == 1
    assert recorder.batches == 1


async def test_a_reused_nonce_is_refused_even_with_a_new_id(
    runtime: Runtime, recorder: Recorder
) -> None:
    """A wallet's nonce is consumed once: a later plan with it is replayed_nonce, batch or not."""
    (first,) = await _submit_together(
        recorder, [await _plan(runtime, amount_sol=Decimal(5), nonce=9)]
    )
    assert isinstance(first, Outcome) and first.status is Status.FILLED
    (again,) = await _submit_together(
        recorder, [await _plan(runtime, amount_sol=Decimal(5), nonce=9)]
    )
    assert isinstance(again, Outcome) and again.reason is Reason.REPLAYED_NONCE
    assert await _count(runtime, IntentRow.__table__) == 1


async def test_daily_limit_holds_across_a_batch(runtime: Runtime, recorder: Recorder) -> None:
    """Three $450 fills against a $1,000 day: two fill, the third is daily_limit and consumes nothing."""
    plans = [
        await _plan(runtime, amount_sol=Decimal(3), nonce=n, daily_limit_usd=Decimal(1000))
        for n in (1, 2, 3)
    ]
    outcomes = await _submit_together(recorder, plans)
    statuses = [o.reason.value if o.reason else o.status.value for o in outcomes]  # type: ignore[union-attr]
    assert statuses == ["filled", "filled", "daily_limit"]
    assert await _count(runtime, IntentRow.__table__) == 2
    used = await runtime.store.read(
        lambda c: c.execute(select(SubmissionRow.__table__.c.status)).scalars().all()
    )
    assert sorted(used) == ["filled", "filled", "rejected"]


async def test_a_fill_the_book_refuses_comes_back_and_writes_nothing(
    runtime: Runtime, recorder: Recorder
) -> None:
    """When the pool's inventory covers only the first of two fills, the second is handed back."""
    big = Decimal(2400)  # ~360k USDC each against 750k USDC of inventory: two fit, a third does not
    plans = [await _plan(runtime, amount_sol=big, nonce=n) for n in (1, 2, 3)]
    outcomes = await _submit_together(recorder, plans)
    assert [type(o).__name__ for o in outcomes] == ["Outcome", "Outcome", "LegFailed"]
    assert outcomes[2].reason is Reason.INVENTORY_EXHAUSTED  # type: ignore[union-attr]
    assert await _count(runtime, SubmissionRow.__table__) == 2
    pool = await runtime.store.read(
        lambda c: c.execute(
            select(OtcPoolRow.__table__).where(OtcPoolRow.__table__.c.id == "otc-sol-usdc")
        ).one()
    )
    assert pool.quote_inventory >= 0 and pool.fills == 2


async def test_last_look_declines_are_counted_with_the_outcome(
    runtime: Runtime, recorder: Recorder
) -> None:
    """A routed plan that lists a last-look decline increments that pool's counter when written."""
    plan = await _plan(runtime, amount_sol=Decimal(5), nonce=1)
    assert plan.fills
    plan.failures.append((plan.fills[0], LegFailed(Reason.LAST_LOOK_REJECTED, "declined")))
    plan.kind, plan.fills = PlanKind.ROUTED, []
    plan.reason, plan.detail = Reason.LAST_LOOK_REJECTED, "declined"
    (outcome,) = await _submit_together(recorder, [plan])
    assert isinstance(outcome, Outcome) and outcome.status is Status.FAILED
    rejects = await runtime.store.read(
        lambda c: c.execute(
            select(OtcPoolRow.__table__.c.last_look_rejects).where(
                OtcPoolRow.__table__.c.id == "otc-sol-usdc"
            )
        ).scalar_one()
    )
    assert rejects == 1


async def test_one_bad_plan_does_not_hold_up_the_batch(
    runtime: Runtime, recorder: Recorder
) -> None:
    """A plan that breaks a constraint fails alone; the rest of its batch commits."""
    (first,) = await _submit_together(
        recorder, [await _plan(runtime, amount_sol=Decimal(1), nonce=1, ref="same")]
    )
    assert isinstance(first, Outcome)
    bad = await _plan(runtime, amount_sol=Decimal(2), nonce=3)
    # A negative notional would take the wallet's daily usage below zero: the database's
    # check constraint refuses the whole batch, and only this plan once retried alone.
    bad.notional_micros = -(10**15)
    plans = [
        await _plan(runtime, amount_sol=Decimal(2), nonce=2),
        bad,
        await _plan(runtime, amount_sol=Decimal(2), nonce=4),
    ]
    results = await asyncio.gather(*(recorder.submit(p) for p in plans), return_exceptions=True)
    assert isinstance(results[0], Outcome) and isinstance(results[2], Outcome)
    assert isinstance(results[1], IntegrityError)
    assert await _count(runtime, TradeRow.__table__) == 3


async def test_a_submission_already_recorded_gets_its_outcome_back(
    runtime: Runtime, recorder: Recorder
) -> None:
    """A plan for a (source, ref) that already ended returns that outcome and writes nothing."""
    (first,) = await _submit_together(
        recorder, [await _plan(runtime, amount_sol=Decimal(1), nonce=1, ref="same")]
    )
    again = await _plan(runtime, amount_sol=Decimal(2), nonce=2, ref="same")
    (second,) = await _submit_together(recorder, [again])
    assert isinstance(first, Outcome) and isinstance(second, Outcome)
    assert (second.status, second.intent_id, second.result) == (
        first.status,
        first.intent_id,
        first.result,
    )
    assert await _count(runtime, TradeRow.__table__) == 1


async def test_the_result_document_route_is_the_routes_row(
    runtime: Runtime, recorder: Recorder
) -> None:
    """A single-venue fill's result document names the route SQL's routes row holds."""
    plan = await _plan(runtime, amount_sol=Decimal(2), nonce=77)
    (outcome,) = await _submit_together(recorder, [plan])
    assert isinstance(outcome, Outcome) and outcome.status is Status.FILLED
    (route,) = await runtime.store.read(lambda c: list(c.execute(select(RouteRow.__table__))))
    (leg,) = await runtime.store.read(lambda c: list(c.execute(select(RouteLegRow.__table__))))
    block = json.loads(outcome.result)["route"]
    assert (block["kind"], block["venues"]) == (route.kind, route.venues) == ("single", "otc")
    assert (block["venue"], block["source"]) == (leg.venue, leg.source)
    assert [block[k] for k in ("expected_out", "guaranteed_out", "net_out")] == [
        str(route.expected_out), str(route.guaranteed_out), str(route.net_out)
    ]  # fmt: skip
    assert block["savings"]["vs_runner_up_bps"] == (
        None if route.savings_vs_runner_up_bps is None else str(route.savings_vs_runner_up_bps)
    )
