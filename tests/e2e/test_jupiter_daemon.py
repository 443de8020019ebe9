"""The daemon routing between Jupiter (the fake on loopback) and the OTC pools, in every mode."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent
from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.ledger.plans import Submission
from agent.store.models import IntentRow, QuoteRow, RouteLegRow, RouteRow
from tests.support import jupiter_tamper as tamper
from tests.support.agent_home import AgentHome
from tests.support.fake_jupiter import FakeJupiter
from tests.support.fake_mainnet_rpc import FakeMainnetRpc


@pytest.fixture(name="jupiter")
async def _jupiter() -> AsyncIterator[FakeJupiter]:
    async with FakeJupiter().add_deep_sol_usdc() as fake:
        yield fake


async def _home(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    mode: str,
    **overrides: str,
) -> AgentHome:
    config = make_config(
        sqlite_url,
        execution__mode=mode,
        execution__honour_execution_delay="false",
        venues__jupiter__enabled="true",
        venues__jupiter__base_url=jupiter.base_url,
        venues__jupiter__rps="1000",
        venues__localdex__enabled="false",
        **overrides,
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    return home


def _by_venue(legs: list, status: str) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(leg.venue for leg in legs if leg.status == status)


async def test_paper_mode_routes_between_jupiter_and_otc(make_config, sqlite_url, jupiter) -> None:  # type: ignore[no-untyped-def]
    """Jupiter quotes every intent; the router fills some there, some in the OTC pools, and
    splits the large ones across both."""
    home = await _home(make_config, sqlite_url, jupiter, "paper")
    home.feed(80, invalid_share=0.0, seed=21)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    assert stats.processed == 80
    filled = _by_venue(await home.rows(RouteLegRow.__table__), "filled")
    assert filled["jupiter"] > 0 and filled["otc"] > 0
    quotes = await home.rows(QuoteRow.__table__)
    verdicts = Counter(q.verdict for q in quotes if q.venue == "jupiter")
    assert verdicts["no_route"] > 0  # pairs the fake cannot route
    quoted = {q.intent_id for q in quotes if q.venue == "jupiter" and q.expected_out}
    legs = await home.rows(RouteLegRow.__table__)
    assert {leg.intent_id for leg in legs if leg.venue == "jupiter"} <= quoted
    registry = daemon.runtime.metrics.registry
    sent = registry.get_sample_value(
        "otc_agent_venue_requests_total", {"venue": "jupiter", "endpoint": "quote", "status": "2xx"}
    )
    assert sent is not None and sent >= filled["jupiter"]
    # Paper mode never asks for instructions: one request per quote.
    assert {r.path for r in jupiter.requests} == {"/swap/v1/quote"}
    # Large SOL/USDC trades are split between Jupiter and the OTC pool.
    routes = Counter((r.kind, r.venues) for r in await home.rows(RouteRow.__table__))
    assert routes[("split", "jupiter+otc")] > 0 and routes[("single", "jupiter")] > 0


async def test_dry_run_without_simulation_rpc_records_built_legs(
    make_config, sqlite_url, jupiter
) -> None:  # type: ignore[no-untyped-def]
    """Without simulate_rpc, a Jupiter leg is verified, signed by nobody else, stored and recorded built."""
    home = await _home(make_config, sqlite_url, jupiter, "dry-run")
    home.feed(60, invalid_share=0.0, seed=22)
    daemon = home.daemon()
    await daemon.run(once=True)
    legs = await home.rows(RouteLegRow.__table__)
    built = [leg for leg in legs if leg.venue == "jupiter" and leg.status == "built"]
    assert built and not [leg for leg in legs if leg.venue == "jupiter" and leg.status == "filled"]
    intents = {i.id: i for i in await home.rows(IntentRow.__table__)}
    wallets = {str(home.desk.pubkey()), str(home.treasury.pubkey())}
    for leg in built:
        transaction = VersionedTransaction.from_bytes(base64.b64decode(leg.transaction))
        message = transaction.message
        assert message.header.num_required_signatures == 1
        assert str(message.account_keys[0]) == intents[leg.intent_id].wallet
        assert str(message.account_keys[0]) in wallets
        assert (
            intents[leg.intent_id].status == "filled" and intents[leg.intent_id].amount_out is None
        )
    result = json.loads((home.root / "out" / f"{built[0].intent_id}.result.json").read_text())
    assert result["legs"][-1]["status"] == "built" and result["buy"]["amount_out"] is None
    registry = daemon.runtime.metrics.registry
    counted = registry.get_sample_value(
        "otc_agent_transaction_executions_total", {"mode": "dry-run", "result": "built"}
    )
    assert counted == len(built)


async def test_dry_run_simulates_jupiter_legs_on_the_mainnet_rpc(
    make_config, sqlite_url, jupiter
) -> None:  # type: ignore[no-untyped-def]
    """With simulate_rpc, each Jupiter leg is simulated (no sig check, fresh blockhash) and its output measured."""
    rpc = FakeMainnetRpc(tables=dict(jupiter.lookup_tables()), shortfall_bps=3)
    await rpc.start()
    try:
        home = await _home(
            make_config, sqlite_url, jupiter, "dry-run", venues__jupiter__simulate_rpc=rpc.url
        )
        for wallet in (home.desk, home.treasury):
            rpc.lamports[wallet.pubkey()] = 10 * 10**9
        home.feed(40, invalid_share=0.0, seed=23)
        await home.daemon().run(once=True)
    finally:
        await rpc.aclose()
    legs = [leg for leg in await home.rows(RouteLegRow.__table__) if leg.venue == "jupiter"]
    filled = [leg for leg in legs if leg.status == "filled"]
    assert filled and len(filled) == len(legs)
    for leg in filled:
        assert leg.realised_out == leg.expected_out * 9_997 // 10_000
        assert leg.units_consumed == rpc.units
    assert rpc.simulations and all(
        c["sigVerify"] is False and c["replaceRecentBlockhash"] is True for c in rpc.simulations
    )


async def test_forged_instructions_are_never_signed(make_config, sqlite_url, jupiter) -> None:  # type: ignore[no-untyped-def]
    """A transfer to a stranger in Jupiter's answer fails the leg before signing; OTC fills instead."""
    jupiter.tamper = tamper.extra_transfer_to_stranger
    home = await _home(make_config, sqlite_url, jupiter, "dry-run")
    home.feed(40, invalid_share=0.0, seed=24)
    daemon = home.daemon()
    await daemon.run(once=True)
    legs = await home.rows(RouteLegRow.__table__)
    refused = [leg for leg in legs if leg.venue == "jupiter"]
    assert refused and all(
        leg.status == "failed" and leg.reason == "transaction_refused" and leg.transaction is None
        for leg in refused
    )
    # The router went on down its ranking where another venue had quoted; where none had,
    # the intent failed with the refusal as its reason.
    later = {leg.intent_id for leg in legs if leg.venue != "jupiter" and leg.leg_index > 0}
    intents = {i.id: i for i in await home.rows(IntentRow.__table__)}
    alone = [leg.intent_id for leg in refused if leg.intent_id not in later]
    assert later and alone
    assert all(
        intents[i].status == "failed" and intents[i].reason == "transaction_refused" for i in alone
    )
    counted = daemon.runtime.metrics.registry.get_sample_value(
        "otc_agent_swap_refusals_total", {"venue": "jupiter", "check": "foreign_transfer"}
    )
    assert counted == len(refused)


class _Crash(Exception):
    """Stands for the process dying between reserving a fill and settling it."""


async def test_jupiter_leg_left_executing_is_simulated_at_the_next_start(
    make_config, sqlite_url, jupiter
) -> None:  # type: ignore[no-untyped-def]
    """A verified swap stored before a crash is simulated from SQL at start, never rebuilt."""
    rpc = FakeMainnetRpc(tables=dict(jupiter.lookup_tables()))
    await rpc.start()
    try:
        home = await _home(
            make_config, sqlite_url, jupiter, "dry-run",
            venues__jupiter__simulate_rpc=rpc.url, venues__otc__enabled="false",
        )  # fmt: skip
        tokens = home.runtime().tokens
        draft = IntentDraft(
            "local", tokens.require("SOL").mint, tokens.require("USDC").mint, 10**9,
            int(time.time()) + 300, new_nonce(), max_slippage_bps=100, venues=("jupiter",),
        )  # fmt: skip
        intent_id, envelope = sign_intent(home.desk, draft)
        runtime = home.runtime()
        await runtime.start()

        async def crash(plan, executing):  # type: ignore[no-untyped-def]
            raise _Crash

        runtime.pipeline.settler.settle = crash  # type: ignore[method-assign]
        with pytest.raises(_Crash):
            await runtime.pipeline.process(Submission("directory", "claim-1", "x", envelope, 0.0))
        await runtime.aclose()
        (row,) = await home.rows(IntentRow.__table__)
        assert row.status == "executing" and row.id == intent_id
        requests_before = len(jupiter.requests)

        restarted = home.runtime()
        await restarted.start()
        await restarted.aclose()
    finally:
        await rpc.aclose()
    (row,) = await home.rows(IntentRow.__table__)
    (leg,) = await home.rows(RouteLegRow.__table__)
    assert (row.status, leg.status, leg.venue) == ("filled", "filled", "jupiter")
    assert (
        leg.realised_out == leg.expected_out * 9_997 // 10_000
        and row.amount_out == leg.realised_out
    )
    assert len(jupiter.requests) == requests_before and len(rpc.simulations) == 1


@pytest.mark.parametrize("wsol_before", [None, 3 * 10**9], ids=["no-wsol-account", "wsol-held"])
async def test_sol_bought_through_jupiter_is_measured_after_unwrapping(
    make_config, sqlite_url, jupiter, wsol_before: int | None
) -> None:  # type: ignore[no-untyped-def]
    """Buying SOL closes the wrapped-SOL account in the swap: the output is read from the
    wallet's lamports (plus the fee), not from an account that no longer exists."""
    from onchain import spl

    rpc = FakeMainnetRpc(tables=dict(jupiter.lookup_tables()), shortfall_bps=3)
    await rpc.start()
    try:
        home = await _home(
            make_config, sqlite_url, jupiter, "dry-run",
            venues__jupiter__simulate_rpc=rpc.url, venues__otc__enabled="false",
        )  # fmt: skip
        wallet = home.desk.pubkey()
        rpc.lamports[wallet] = 10 * 10**9
        if wsol_before is not None:
            rpc.fund(wallet, spl.NATIVE_MINT, wsol_before)
        tokens = home.runtime().tokens
        draft = IntentDraft(
            "local", tokens.require("USDC").mint, tokens.require("SOL").mint, 1_500 * 10**6,
            int(time.time()) + 300, new_nonce(), max_slippage_bps=100, venues=("jupiter",),
        )  # fmt: skip
        _, envelope = sign_intent(home.desk, draft)
        runtime = home.runtime()
        await runtime.start()
        outcome = await runtime.pipeline.process(Submission("directory", "c-1", "x", envelope, 0.0))
        await runtime.aclose()
    finally:
        await rpc.aclose()
    assert outcome.status.value == "filled", outcome.result
    (leg,) = await home.rows(RouteLegRow.__table__)
    assert leg.buy_account == str(spl.associated_token_address(wallet, spl.NATIVE_MINT))
    assert leg.realised_out == leg.expected_out * 9_997 // 10_000 > 0
