"""Split routing through the real pipeline: one intent filled across several venues."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from solders.keypair import Keypair
from solders.signature import Signature

from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent, write_intent
from agent.config import AgentConfig
from agent.domain.outcomes import Reason
from agent.intake.folder.layout import IntakeLayout
from agent.ledger.plans import Submission
from agent.settlement.executor import ExecutionReport, PreparedLeg
from agent.store.models import (
    IntentRow,
    LocalDexPoolRow,
    OtcPoolRow,
    QuoteRow,
    RouteLegRow,
    RouteRow,
    TradeRow,
)
from agent.venues.base import LegFailed
from tests.support.agent_home import AgentHome

# 3,000 SOL: above the OTC pool's max size (2,500) and too big for the local DEX alone at
# 300 bps: only a split meets min_out.
WHALE_SOL = 3_000 * 10**9


async def _home(make_config: Callable[..., AgentConfig], sqlite_url: str, mode: str) -> AgentHome:
    config = make_config(
        sqlite_url, execution__mode=mode, execution__honour_execution_delay="false"
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    return home


async def _books(home: AgentHome) -> dict[str, tuple[int, int]]:
    """Every OTC pool's inventory and every local DEX pool's reserves, by pool id."""
    otc = {
        p.id: (p.base_inventory, p.quote_inventory) for p in await home.rows(OtcPoolRow.__table__)
    }
    dex = {
        p.id: (p.base_reserve, p.quote_reserve) for p in await home.rows(LocalDexPoolRow.__table__)
    }
    return otc | dex


def _whale(home: AgentHome, amount: int = WHALE_SOL, slippage_bps: int = 300) -> tuple[str, bytes]:
    tokens = home.runtime().tokens
    draft = IntentDraft(
        "local", tokens.require("SOL").mint, tokens.require("USDC").mint, amount,
        int(time.time()) + 300, new_nonce(), max_slippage_bps=slippage_bps,
    )  # fmt: skip
    return sign_intent(home.desk, draft)


async def test_a_whale_is_split_and_every_leg_filled(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """No single venue can take 3,000 SOL within min_out; the OTC pool and the local DEX together do."""
    home = await _home(make_config, sqlite_url, "paper")
    intent_id, envelope = _whale(home)
    write_intent(home.root / "inbox", intent_id, envelope)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    assert stats.filled == 1
    registry = daemon.runtime.metrics.registry
    assert registry.get_sample_value("otc_agent_split_routes_total", {"legs": "2"}) == 1
    (intent,) = await home.rows(IntentRow.__table__)
    (route,) = await home.rows(RouteRow.__table__)
    legs = sorted(await home.rows(RouteLegRow.__table__), key=lambda leg: leg.leg_index)
    trades = await home.rows(TradeRow.__table__)
    assert route.kind == "split" and route.venues == "localdex+otc"
    assert route.savings_vs_best_single_bps is None  # no single venue could fill it
    assert route.allocations_considered > 1  # the solver's search is recorded
    assert {leg.venue for leg in legs} == {"otc", "localdex"}
    assert all(leg.status == "filled" for leg in legs)
    assert sum(leg.amount_in for leg in legs) == WHALE_SOL
    assert next(leg for leg in legs if leg.venue == "otc").amount_in <= 2_500 * 10**9
    assert intent.amount_out == sum(leg.realised_out for leg in legs) >= intent.min_out
    assert sorted((t.leg_index, t.amount_out) for t in trades) == [
        (leg.leg_index, leg.realised_out) for leg in legs
    ]
    assert sum(t.notional_usd_micros for t in trades) <= intent.notional_usd_micros
    result = json.loads((home.root / "out" / f"{intent_id}.result.json").read_text())
    assert [leg["status"] for leg in result["legs"]] == ["filled", "filled"]
    # The result file's route is SQL's: a split, with the same venues, sums and savings.
    block = result["route"]
    assert (
        (block["kind"], block["venues"]) == (route.kind, route.venues) == ("split", "localdex+otc")
    )
    assert "venue" not in block
    assert (block["expected_out"], block["guaranteed_out"], block["net_out"]) == (
        str(route.expected_out), str(route.guaranteed_out), str(route.net_out)
    )  # fmt: skip
    assert block["savings"]["vs_best_single_bps"] is None
    assert block["savings"]["usd_micros"] == (
        None if route.savings_usd_micros is None else str(route.savings_usd_micros)
    )


async def test_every_leg_of_a_split_is_its_own_simulated_transaction(
    make_config, sqlite_url
) -> None:  # type: ignore[no-untyped-def]
    """In dry-run each leg is signed and simulated on its own; the books keep both legs."""
    home = await _home(make_config, sqlite_url, "dry-run")
    intent_id, envelope = _whale(home)
    write_intent(home.root / "inbox", intent_id, envelope)
    stats = await home.daemon().run(once=True)
    assert stats.filled == 1
    legs = await home.rows(RouteLegRow.__table__)
    assert len(legs) == 2 and len({leg.transaction for leg in legs}) == 2
    assert all(leg.status == "filled" and leg.units_consumed for leg in legs)
    # A dry-run never carries the wallet's signature: its bytes could never be broadcast.
    unsigned = str(Signature.default())
    assert all(leg.signature == unsigned for leg in legs)


async def test_a_failed_simulation_cancels_the_whole_split(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """When one leg's simulation fails, the others are cancelled and every book is given back."""
    home = await _home(make_config, sqlite_url, "dry-run")
    _, envelope = _whale(home)
    runtime = home.runtime()
    await runtime.start()
    books = await _books(home)
    executor = runtime.pipeline.executor
    assert executor is not None
    real_execute = executor.execute
    calls: list[int] = []

    async def execute(leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        calls.append(planned_out)
        report = await real_execute(leg, planned_out)
        if len(calls) == 2:  # the second leg fails
            return ExecutionReport(
                False, Reason.SIMULATION_FAILED, "forced", None, None, 0, None, ()
            )
        return report

    executor.execute = execute  # type: ignore[method-assign]
    outcome = await runtime.pipeline.process(Submission("directory", "c-1", "w", envelope, 0.0))
    await runtime.aclose()
    assert (outcome.status.value, outcome.reason) == ("failed", Reason.SIMULATION_FAILED)
    legs = sorted(await home.rows(RouteLegRow.__table__), key=lambda leg: leg.leg_index)
    assert [leg.status for leg in legs] == ["cancelled", "failed"]
    assert not await home.rows(TradeRow.__table__)
    assert await _books(home) == books
    (intent,) = await home.rows(IntentRow.__table__)
    assert intent.amount_out is None and intent.status == "failed"


async def test_a_maker_that_fades_is_cooled_down_and_the_rest_replanned(
    make_config, sqlite_url
) -> None:  # type: ignore[no-untyped-def]
    """A last-look decline re-plans without that pool and keeps it out for the cool-down."""
    home = await _home(make_config, sqlite_url, "paper")
    runtime = home.runtime()
    await runtime.start()
    otc = runtime.otc
    assert otc is not None
    real_prepare = otc.prepare
    declined: list[str] = []

    async def prepare(quote):  # type: ignore[no-untyped-def]
        if quote.source == "otc-sol-usdc":
            declined.append(quote.source)
            raise LegFailed(Reason.LAST_LOOK_REJECTED, "declined", quote)
        await real_prepare(quote)

    otc.prepare = prepare  # type: ignore[method-assign]
    router = runtime.pipeline.router
    pool = ("otc", "otc-sol-usdc")
    before = router.haircut_bps(pool, ("a", "b"), time.time())
    _, envelope = _whale(home, amount=100 * 10**9)  # small enough for the DEX alone
    outcome = await runtime.pipeline.process(Submission("directory", "c-1", "w", envelope, 0.0))
    assert declined == ["otc-sol-usdc"] and outcome.status.value == "filled"
    legs = sorted(await home.rows(RouteLegRow.__table__), key=lambda leg: leg.leg_index)
    assert legs[0].venue == "otc" and legs[0].reason == "last_look_rejected"
    assert {leg.venue for leg in legs[1:]} == {"localdex"}
    # One decline is within what a 2% pool claims: priced higher, not yet cooled down.
    assert not router.cooling(pool, time.time())
    assert router.haircut_bps(pool, ("a", "b"), time.time()) > before
    for ref in ("c-2", "c-3"):
        _, again = _whale(home, amount=100 * 10**9)
        await runtime.pipeline.process(Submission("directory", ref, "w", again, 0.0))
    await runtime.aclose()
    # The second decline in a row marks it as fading: cooled down, not asked a third time.
    assert declined == ["otc-sol-usdc"] * 2 and router.cooling(pool, time.time())


@pytest.mark.parametrize("split", [True, False])
def test_router_settings_switch_splitting(split: bool) -> None:
    """With split off the router allocates to one venue only (router v1 behaviour)."""
    from agent.domain.allocation import Curve
    from agent.domain.router import Router, RouterSettings

    def linear(rate: int, cap: int) -> Callable[[int], tuple[int, int] | None]:
        return lambda size: (size * rate, size * rate) if size <= cap else None

    curves = [
        Curve("otc", "a", 1, 600, linear(2, 600)),
        Curve("localdex", "b", 1, 1_000, linear(1, 1_000)),
    ]
    router = Router(RouterSettings(split=split), {})
    allocation = router.allocate(
        curves, pair=("x", "y"), amount=1_000, min_out=0, leg_cost_out=lambda _v: 0, now=0.0
    )
    assert allocation is not None
    assert len(allocation.legs) == (2 if split else 1)


async def test_a_venue_that_raises_sits_the_intent_out(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """A bug in one venue's quote is recorded as its miss; the intent routes on the others."""
    home = await _home(make_config, sqlite_url, "paper")
    runtime = home.runtime()
    await runtime.start()
    localdex = runtime.localdex
    assert localdex is not None

    async def broken(request, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("venue bug")

    localdex.quote = broken  # type: ignore[method-assign]
    _, envelope = _whale(home, amount=100 * 10**9)
    outcome = await runtime.pipeline.process(Submission("directory", "c-1", "w", envelope, 0.0))
    await runtime.aclose()
    assert outcome.status.value == "filled"
    quotes = await home.rows(QuoteRow.__table__)
    assert ("localdex", "venue_error") in {(q.venue, q.verdict) for q in quotes}


async def test_a_cluster_refusal_fails_the_leg_not_the_daemon(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """A simulation the cluster refuses (not a program error) fails the leg with its words;
    the books are given back and nothing is left executing."""
    from onchain.cluster import ClusterRejected

    home = await _home(make_config, sqlite_url, "dry-run")
    runtime = home.runtime()
    await runtime.start()
    executor = runtime.pipeline.executor
    assert executor is not None

    async def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ClusterRejected("address table account does not exist")

    executor.chain.cluster.simulate = refuse  # type: ignore[method-assign]
    _, envelope = _whale(home, amount=100 * 10**9)
    outcome = await runtime.pipeline.process(Submission("directory", "c-1", "w", envelope, 0.0))
    await runtime.aclose()
    assert (outcome.status.value, outcome.reason) == ("failed", Reason.SIMULATION_FAILED)
    (intent,) = await home.rows(IntentRow.__table__)
    assert intent.status == "failed" and "address table" in intent.detail


async def test_in_send_mode_a_failed_leg_stops_the_rest(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """Send mode: when a split's first leg fails, the other is never sent and both books come back."""
    home = await _home(make_config, sqlite_url, "send")
    _, envelope = _whale(home)
    runtime = home.runtime()
    await runtime.start()
    books = await _books(home)
    executor = runtime.pipeline.executor
    assert executor is not None
    sent: list[str] = []

    async def execute(leg: PreparedLeg, planned_out: int) -> ExecutionReport:
        sent.append(leg.signature)
        return ExecutionReport(False, Reason.TRANSACTION_FAILED, "forced", None, None, 0, None, ())

    executor.execute = execute  # type: ignore[method-assign]
    outcome = await runtime.pipeline.process(Submission("directory", "c-1", "w", envelope, 0.0))
    await runtime.aclose()
    assert (outcome.status.value, outcome.reason) == ("failed", Reason.TRANSACTION_FAILED)
    legs = sorted(await home.rows(RouteLegRow.__table__), key=lambda leg: leg.leg_index)
    assert [leg.status for leg in legs] == ["failed", "cancelled"] and len(sent) == 1
    assert await _books(home) == books
