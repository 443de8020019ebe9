"""A pipeline assembled by hand from plain parts, as agent/app does it, with no Runtime."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from prometheus_client import CollectorRegistry
from solders.keypair import Keypair

from agent.app.builders import build_otc_pools, build_tokens
from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent
from agent.config import AgentConfig
from agent.domain.outcomes import Status
from agent.domain.policy import WalletPolicy
from agent.domain.prices import PricePoint
from agent.domain.router import Router, RouterSettings
from agent.domain.tokens import Token
from agent.ledger import Recorder, Submission
from agent.metrics import Metrics
from agent.pipeline import DeadlineWaiter, LegPlanner, Pipeline, PipelineSettings
from agent.settlement import Settler
from agent.store import Store, WalletRegistry
from agent.store import wallets as wallet_rows
from agent.store.pools import PoolBookKeeper
from agent.venues import OtcVenue


class FixedOracle:
    """Each token at its static price from tokens.toml."""

    async def price(self, token: Token) -> PricePoint:
        return PricePoint(token.symbol, token.static_usd, "static", time.time())


async def test_a_pipeline_of_plain_parts_fills_an_intent(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Store, venue, group commit, settler and pipeline built one by one fill a signed intent."""
    config = make_config(
        sqlite_url, execution__mode="paper", execution__honour_execution_delay="false"
    )
    desk = Keypair.from_seed(bytes([3]) * 32)
    tokens = build_tokens(config)
    store = Store.from_url(config.database_url)
    await store.upgrade()
    await store.write(
        wallet_rows.upsert_wallet,
        WalletPolicy(str(desk.pubkey()), Decimal(10**9), Decimal(10**9), frozenset()),
        "test",
    )
    wallets = WalletRegistry(store)
    await wallets.refresh()
    oracle = FixedOracle()
    otc = OtcVenue(build_otc_pools(config, tokens), oracle, honour_execution_delay=False)
    await otc.start(PoolBookKeeper(store))
    metrics = Metrics(CollectorRegistry())
    router = Router(RouterSettings(), {})
    waiter = DeadlineWaiter(time.time)
    recorder = Recorder(store, {"otc": otc})
    settler = Settler(recorder=recorder, store=store, tokens=tokens, metrics=metrics, mode="paper")
    pipeline = Pipeline(
        settings=PipelineSettings(
            cluster="local",
            mode="paper",
            max_ttl_s=600,
            default_slippage_bps=100,
            max_slippage_bps=500,
            enabled_venues=("otc",),
        ),
        store=store,
        tokens=tokens,
        wallets=wallets,
        oracle=oracle,
        venues=[otc],
        metrics=metrics,
        router=router,
        waiter=waiter,
        planner=LegPlanner({"otc": otc}, router, waiter),
        recorder=recorder,
        settler=settler,
    )
    sol, usdc = tokens.require("SOL"), tokens.require("USDC")
    draft = IntentDraft(
        "local", sol.mint, usdc.mint, 10**9, int(time.time()) + 60, new_nonce(),
        max_slippage_bps=300,
    )  # fmt: skip
    intent_id, envelope = sign_intent(desk, draft)
    try:
        outcome = await pipeline.process(Submission("directory", "c-1", "x.json", envelope, 0.0))
    finally:
        await pipeline.aclose()
        await waiter.aclose()
        await store.aclose()
    assert outcome.status is Status.FILLED, outcome
    assert outcome.intent_id == intent_id
    assert [leg.venue for leg in outcome.legs] == ["otc"]
