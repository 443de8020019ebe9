"""dry-run and send on the in-process LiteSVM cluster, through the real daemon."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.settlement.chain import LOCAL_WALLET_FUNDING_USD
from agent.store.models import IntentRow, LocalDexPoolRow, OtcPoolRow, RouteLegRow, TradeRow
from onchain import spl
from onchain.cluster import Blockhash
from onchain.local_cluster import LocalCluster
from tests.support.agent_home import AgentHome


async def _home(make_config: Callable[..., AgentConfig], sqlite_url: str, mode: str) -> AgentHome:
    config = make_config(
        sqlite_url, execution__honour_execution_delay="false", execution__mode=mode
    )
    desk, treasury = Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32)
    home = AgentHome(config, desk, treasury)
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    return home


async def test_dry_run_simulates_every_fill_and_changes_no_balance(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """In dry-run each fill is a real simulated transaction: units, fee and realised output recorded."""
    home = await _home(make_config, sqlite_url, "dry-run")
    home.feed(200, invalid_share=0.0, seed=12)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    assert stats.filled > 120
    legs = [leg for leg in await home.rows(RouteLegRow.__table__) if leg.status == "filled"]
    # A split fills several legs of one intent, each its own simulated transaction.
    assert len({leg.intent_id for leg in legs}) == stats.filled
    assert all(leg.units_consumed and leg.units_consumed > 1_000 for leg in legs)
    assert all(leg.fee_lamports == 10_000 and leg.signature and leg.transaction for leg in legs)
    trades = {(t.intent_id, t.leg_index): t for t in await home.rows(TradeRow.__table__)}
    assert all(trades[leg.intent_id, leg.leg_index].amount_out == leg.realised_out for leg in legs)
    assert {t.mode for t in trades.values()} == {"dry-run"}
    cluster = daemon.runtime.pipeline.executor.chain.cluster  # type: ignore[union-attr]
    usdc = Pubkey.from_string(daemon.runtime.tokens.require("USDC").mint)
    desk_usdc = cluster.token_balance(home.desk.pubkey(), usdc)
    assert desk_usdc is not None and desk_usdc % 10**6 == 0  # untouched funding, whole dollars
    some, _ = next(iter(trades))
    result = json.loads((home.root / "out" / f"{some}.result.json").read_text())
    transaction = result["legs"][-1]["transaction"]
    assert transaction["units_consumed"] > 0 and transaction["signature"]


async def test_send_moves_real_tokens_and_the_books_balance(make_config, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """In send mode every vault on chain equals its pool's book in SQL, to the base unit."""
    home = await _home(make_config, sqlite_url, "send")
    home.feed(200, invalid_share=0.1, seed=13)
    daemon = home.daemon()
    stats = await daemon.run(once=True)
    assert stats.filled > 120
    executor = daemon.runtime.pipeline.executor
    assert executor is not None
    cluster: LocalCluster = executor.chain.cluster  # type: ignore[assignment]
    tokens = daemon.runtime.tokens
    mints = {t.mint: Pubkey.from_string(t.mint) for t in tokens}
    for pool in await home.rows(OtcPoolRow.__table__):
        authority = executor.chain.authority(pool.id).pubkey()
        assert cluster.token_balance(authority, mints[pool.base_mint]) == pool.base_inventory
        assert cluster.token_balance(authority, mints[pool.quote_mint]) == pool.quote_inventory
    for pool in await home.rows(LocalDexPoolRow.__table__):
        authority = executor.chain.authority(pool.id).pubkey()
        assert cluster.token_balance(authority, mints[pool.base_mint]) == pool.base_reserve
        assert cluster.token_balance(authority, mints[pool.quote_mint]) == pool.quote_reserve
    trades = await home.rows(TradeRow.__table__)
    intents = {i.id: i for i in await home.rows(IntentRow.__table__)}
    filled = {i for i, row in intents.items() if row.status == "filled"}
    assert len(filled) == stats.filled and {t.mode for t in trades} == {"send"}
    # Every filled intent traded; a failed split may have landed some legs, and they count.
    assert filled <= {t.intent_id for t in trades}
    bought: Counter[str] = Counter()
    sold: Counter[str] = Counter()
    for trade in trades:
        bought[trade.buy_mint] += trade.amount_out
        sold[trade.sell_mint] += trade.amount_in
    for token in tokens:
        if token.mint == str(spl.NATIVE_MINT):
            continue
        funded = int((LOCAL_WALLET_FUNDING_USD / token.static_usd).scaleb(token.decimals))
        held = cluster.token_balance(home.desk.pubkey(), mints[token.mint])
        assert held == funded + bought[token.mint] - sold[token.mint], token.symbol
    native = str(spl.NATIVE_MINT)
    # Bought SOL stays wrapped in the desk's token account: exactly what the trades delivered.
    assert cluster.token_balance(home.desk.pubkey(), spl.NATIVE_MINT) == bought[native]
    assert not [i for i in intents.values() if i.status == "executing"]


@pytest.mark.parametrize("mode", ["dry-run", "send"])
async def test_a_wallet_whose_key_is_not_held(make_config, sqlite_url, mode: str) -> None:  # type: ignore[no-untyped-def]
    """Without the wallet's key, dry-run still simulates (signatures unchecked); send fails the leg."""
    from decimal import Decimal

    from agent.domain.policy import WalletPolicy
    from agent.store import wallets as wallet_rows

    home = await _home(make_config, sqlite_url, mode)
    runtime = home.runtime()
    await runtime.store.upgrade()
    await runtime.store.write(
        wallet_rows.upsert_wallet,
        WalletPolicy(str(home.desk.pubkey()), Decimal(10**7), Decimal(10**12)),  # no keypair path
        "test",
    )
    await runtime.aclose()
    home.feed(6, invalid_share=0.0, seed=14)
    stats = await home.daemon().run(once=True)
    if mode == "dry-run":
        assert stats.filled >= 4
    else:
        assert stats.filled == 0 and stats.failed >= 4


class _Crash(Exception):
    """Stands for the process dying between the reservation and the settlement."""


@pytest.mark.parametrize(
    ("mode", "status", "reason"),
    [("dry-run", "filled", None), ("send", "failed", "transaction_expired")],
    ids=["dry-run-simulates-again", "send-in-process-gives-back"],
)
async def test_fills_left_executing_are_settled_at_the_next_start(
    make_config,
    sqlite_url,
    mode: str,
    status: str,
    reason: str | None,  # type: ignore[no-untyped-def]
) -> None:
    """A fill reserved before a crash is settled at start: re-simulated, or given back in-process."""
    from agent.ledger.plans import Submission
    from agent.store.models import SubmissionRow

    home = await _home(make_config, sqlite_url, mode)
    kinds = home.feed(1, invalid_share=0.0, seed=41)
    (name,) = kinds
    runtime = home.runtime()
    await runtime.start()
    books_before = {k: b.inventory for k, b in runtime.otc.books.items()}  # type: ignore[union-attr]
    reserves_before = {k: (r.base, r.quote) for k, r in runtime.localdex.reserves.items()}  # type: ignore[union-attr]

    async def crash(plan, executing):  # type: ignore[no-untyped-def]
        raise _Crash

    runtime.pipeline.settler.settle = crash  # type: ignore[method-assign]
    raw = (home.root / "inbox" / name).read_bytes()
    received = time.time() - 5
    with pytest.raises(_Crash):
        await runtime.pipeline.process(Submission("directory", "claim-1", name, raw, received))
    await runtime.aclose()
    (row,) = await home.rows(IntentRow.__table__)
    assert row.status == "executing"

    restarted = home.runtime()
    await restarted.start()
    await restarted.aclose()
    (row,) = await home.rows(IntentRow.__table__)
    assert (row.status, row.reason) == (status, reason)
    (submission,) = await home.rows(SubmissionRow.__table__)
    assert submission.ref == "claim-1" and submission.status == status
    # Settled after the crash, it is still recorded as what was received, when it was.
    assert submission.name == name
    assert submission.digest == hashlib.sha256(raw).hexdigest()
    assert abs(submission.received_at.timestamp() - received) < 0.001
    document = json.loads(submission.result)
    assert document["submission"]["name"] == name
    trades = await home.rows(TradeRow.__table__)
    assert len(trades) == (1 if status == "filled" else 0)
    if status == "failed":
        books = {
            p.id: (p.base_inventory, p.quote_inventory)
            for p in await home.rows(OtcPoolRow.__table__)
        }
        reserves = {
            p.id: (p.base_reserve, p.quote_reserve)
            for p in await home.rows(LocalDexPoolRow.__table__)
        }
        assert books == {k: (v.base, v.quote) for k, v in books_before.items()}
        assert reserves == reserves_before


@pytest.mark.parametrize(
    ("measured", "expected"),
    [(None, 200_000), (60_000, 200_000), (190_000, 209_001), (1_390_000, 1_400_000)],
    ids=["unmeasured", "cheaper-never-lowers", "dearer-raises", "capped"],
)
def test_compute_limit_is_raised_by_measurements_but_never_lowered(measured, expected) -> None:  # type: ignore[no-untyped-def]
    """A venue's limit grows to what its settlements needed plus 10 % (rounded up), never shrinks."""
    from agent.domain.tokens import TokenRegistry
    from agent.settlement.chain import ChainContext
    from agent.settlement.executor import ChainExecutor
    from onchain.transactions import ComputeBudget

    executor = ChainExecutor(
        ChainContext(cluster=LocalCluster()),
        TokenRegistry([]),
        mode="send",
        budget=ComputeBudget(200_000, 5),
    )
    executor.measured("otc", measured)
    budget = executor.budget_for("otc")
    assert (budget.unit_limit, budget.unit_price_micro_lamports) == (expected, 5)


async def test_fills_prepared_within_a_second_share_one_blockhash() -> None:
    """Concurrent fills share one fetch; a blockhash serves BLOCKHASH_REUSE_S, then the cluster is
    asked again."""
    from agent.domain.tokens import TokenRegistry
    from agent.settlement.chain import ChainContext
    from agent.settlement.executor import BLOCKHASH_REUSE_S, ChainExecutor
    from onchain.transactions import ComputeBudget

    cluster = LocalCluster()
    fetched = []
    latest = cluster.latest_blockhash

    async def counted() -> Blockhash:
        fetched.append(await latest())
        return fetched[-1]

    cluster.latest_blockhash = counted  # type: ignore[method-assign]
    now = [100.0]
    executor = ChainExecutor(
        ChainContext(cluster=cluster),
        TokenRegistry([]),
        mode="send",
        budget=ComputeBudget(200_000, 5),
        monotonic=lambda: now[0],
    )
    burst = await asyncio.gather(*(executor.blockhash() for _ in range(8)))
    first = burst[0]
    assert set(burst) == {first} and len(fetched) == 1  # a burst of fills: one fetch
    now[0] += BLOCKHASH_REUSE_S / 2
    assert await executor.blockhash() == first and len(fetched) == 1
    cluster.svm.expire_blockhash()
    now[0] += BLOCKHASH_REUSE_S
    renewed = await executor.blockhash()
    assert len(fetched) == 2 and renewed.blockhash != first.blockhash
