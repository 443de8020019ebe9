"""Send mode when the unexpected happens between reserving a fill and knowing its fate: the
cluster stops answering right after taking a transaction, or a bug interrupts the settlement.
A transaction that may be on chain is never recorded failed: it is settled by its signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from solders.keypair import Keypair

from agent.app.assembly import build_runtime
from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.ledger.plans import Outcome, Plan
from agent.settlement.settler import Settler
from agent.store.models import SubmissionRow
from onchain.localnet import LocalnetServer
from tests.reliability.conftest import BOOKS_ONLY_BY_FILLS_CONFIG
from tests.support.agent_home import AgentHome
from tests.support.consistency import every_file_ended_once
from tests.support.localnet_books import (
    Holdings,
    books_match_chain,
    every_settlement_landed_once,
    wallet_holdings,
    wallets_match_books,
)
from tests.support.ports import free_port
from tests.support.processes import wait_for
from tests.support.rpc_faults import LOST, PASS, Fault, RpcFaultProxy, status


@dataclass
class Chain:
    """A send-mode home whose cluster is an in-process localnet behind a fault proxy."""

    home: AgentHome
    server: LocalnetServer
    proxy: RpcFaultProxy
    before: dict[str, Holdings]  # the wallets' holdings before any intent

    async def check_books(self) -> None:
        """Every settlement landed once, and vaults and wallets equal the books."""
        await every_settlement_landed_once(self.home, self.server.url)
        await books_match_chain(self.home, self.server.url)
        await wallets_match_books(self.home, self.server.url, self.before)


@pytest.fixture(name="chain")
async def _chain(make_config: Callable[..., AgentConfig]) -> AsyncIterator[Chain]:
    """Registered wallets (keys held), their chain served in process, the agent sent through
    the fault proxy; the books move only by fills."""
    port = free_port()
    proxy = RpcFaultProxy(port)
    await proxy.start()
    config = make_config(
        execution__mode="send",
        execution__honour_execution_delay="false",
        cluster__url=proxy.url,
        **BOOKS_ONLY_BY_FILLS_CONFIG,
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    runtime = build_runtime(config)
    await runtime.start_books()
    local = await runtime.local_chain()
    mints = [token.mint for token in runtime.tokens]
    await runtime.aclose()
    # The clock ticks as `otc-agent localnet` does: a blockhash stays valid for about a minute.
    server = LocalnetServer(local.cluster, "127.0.0.1", port, slot_time_s=0.4)  # type: ignore[arg-type]
    await server.start()
    try:
        wallets = [str(home.desk.pubkey()), str(home.treasury.pubkey())]
        yield Chain(home, server, proxy, await wallet_holdings(server.url, wallets, mints))
    finally:
        await proxy.aclose()
        await server.aclose()


class _DownAfterSend:
    """The cluster takes the first transaction sent, loses its answer, then answers 503 to
    everything until the test brings it back."""

    def __init__(self) -> None:
        self.down = False
        self.lost = 0

    def __call__(self, method: str | None) -> Fault:
        if self.down:
            return status(503)
        if method == "sendTransaction" and not self.lost:
            self.down, self.lost = True, 1
            return LOST
        return PASS


async def test_cluster_gone_after_taking_a_transaction_settles_it_when_back(
    chain: Chain,
) -> None:
    """The first send lands but its answer is lost and the cluster stays away longer than
    the client retries: no leg is recorded failed; once it answers, each is settled by its
    signature, and the chain equals the books."""
    outage = _DownAfterSend()
    chain.proxy.rule = outage
    home = chain.home
    home.feed(12, invalid_share=0.0, seed=71)
    daemon = home.daemon()
    running = asyncio.create_task(daemon.run())
    try:
        await wait_for(lambda: outage.down, "the lost send", within_s=30)
        await asyncio.sleep(6)  # the outage itself: longer than the RPC client's retries
        outage.down = False
        await wait_for(lambda: daemon.stats.processed == 12 and daemon.idle, "12", within_s=60)
    finally:
        daemon.stop()
        await asyncio.wait_for(running, 60)
    submissions = await every_file_ended_once(home, 12)
    assert not [s for s in submissions if s.reason == "cluster_unavailable"]
    assert [s.status for s in submissions].count("filled") >= 6
    assert [f.method for f in chain.proxy.seen if f.fault == LOST] == ["sendTransaction"]
    await chain.check_books()


class _Bug(Exception):
    """Stands for a bug between reserving a fill and recording its end."""


async def test_a_bug_after_the_reservation_settles_the_fill_instead_of_ending_it(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug interrupts each settlement after the fill was reserved and signed: the intent is
    not closed as internal_error with its books still reserved; it is settled from SQL by its
    signature; a restart finds nothing left to settle, and the chain equals the books."""
    home = chain.home
    home.feed(8, invalid_share=0.0, seed=72)
    daemon = home.daemon()

    async def broken(_settler: Settler, plan: Plan, executing: Outcome) -> Outcome:
        raise _Bug

    # The settler is built when the daemon starts; every one of this run's settlements breaks.
    monkeypatch.setattr(Settler, "settle", broken)
    stats = await daemon.run(once=True)
    assert stats.processed == 8
    submissions = await every_file_ended_once(home, 8)
    assert not [s for s in submissions if s.reason == "internal_error"]
    assert [s.status for s in submissions].count("filled") >= 4
    monkeypatch.undo()  # the restarted daemon's settler works
    restarted = home.daemon()
    await restarted.run(once=True)
    assert len(await home.rows(SubmissionRow.__table__)) == 8
    await chain.check_books()
