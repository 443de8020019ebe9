"""The daemon against `otc-agent localnet`: the RPC path offline, and a chain that outlives it."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from solders.keypair import Keypair

from agent.app.assembly import build_runtime
from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.store.models import IntentRow, TradeRow
from onchain import spl
from onchain.localnet import LocalnetServer
from tests.support.agent_home import AgentHome
from tests.support.localnet_books import books_match_chain
from tests.support.ports import free_port
from tests.support.processes import spawn_agent


async def _prepared_home(make_config: Callable[..., AgentConfig], url: str, mode: str) -> AgentHome:
    config = make_config(
        execution__honour_execution_delay="false", execution__mode=mode, cluster__url=url
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    return home


@pytest.mark.parametrize("mode", ["dry-run", "send"])
async def test_daemon_executes_over_json_rpc_against_an_in_process_localnet(
    make_config, mode: str
) -> None:  # type: ignore[no-untyped-def]
    """Over the RPC path dry-run only simulates (no balance moves); send settles and books match vaults."""
    port = free_port()
    home = await _prepared_home(make_config, f"http://127.0.0.1:{port}", mode)
    runtime = build_runtime(home.config)
    await runtime.start_books()
    chain = await runtime.local_chain()
    await runtime.aclose()
    async with LocalnetServer(chain.cluster, "127.0.0.1", port, slot_time_s=0.05) as server:  # type: ignore[arg-type]
        home.feed(40, invalid_share=0.0, seed=31)
        stats = await home.daemon().run(once=True)
        assert stats.filled > 20
        if mode == "send":
            # Intents that traded: every filled one, and failed splits whose landed legs count.
            assert await books_match_chain(home, server.url) >= stats.filled
        desk_wsol = chain.cluster.token_balance(home.desk.pubkey(), spl.NATIVE_MINT)  # type: ignore[attr-defined]
        if mode == "dry-run":
            assert desk_wsol is None  # simulations change nothing
        else:
            bought = sum(
                t.amount_out
                for t in await home.rows(TradeRow.__table__)
                if t.buy_mint == str(spl.NATIVE_MINT)
            )
            assert (desk_wsol or 0) == bought


def _spawn(args: list[str], home: Path, config_dir: Path, log, mode: str, url: str):  # type: ignore[no-untyped-def]
    return spawn_agent(config_dir, home, log, *args, mode=mode, url=url)


@pytest.mark.slow
async def test_sigkill_the_daemon_while_localnet_keeps_the_chain(
    make_config, config_dir, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Send mode: kill the daemon mid-stream thrice; after a final run nothing is lost or doubled and
    every vault on the surviving chain equals its book."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = await _prepared_home(make_config, url, "send")
    log_path = tmp_path / "processes.log"
    with log_path.open("ab") as log:
        localnet = _spawn(
            ["localnet", "--port", str(port)], home.config.home_path, config_dir, log, "send", url
        )
        try:
            for _ in range(500):
                if b"localnet on" in log_path.read_bytes():
                    break
                await asyncio.sleep(0.02)
            home.feed(250, invalid_share=0.1, seed=32)
            for jitter in (0.0, 0.02, 0.05):
                daemon = _spawn(["run"], home.config.home_path, config_dir, log, "send", url)
                before = len(home.files("out"))
                for _ in range(3000):
                    if len(home.files("out")) >= before + 25:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(jitter)
                daemon.send_signal(signal.SIGKILL)
                assert daemon.wait(timeout=10) == -signal.SIGKILL
            final = _spawn(["run", "--once"], home.config.home_path, config_dir, log, "send", url)
            assert final.wait(timeout=120) == 0, log_path.read_text()[-3000:]
            assert home.files("inbox") == [] and home.files("work") == []
            finished = home.files("done") + [
                n for n in home.files("rejected") if not n.endswith(".reason.json")
            ]
            assert len(finished) == 250
            intents = await home.rows(IntentRow.__table__)
            assert not [i for i in intents if i.status in ("accepted", "executing")]
            trades = await home.rows(TradeRow.__table__)
            assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})
            assert len({t.intent_id for t in trades}) > 50
            assert all(t.tx_signature for t in trades)
            await books_match_chain(home, url)
        finally:
            localnet.send_signal(signal.SIGTERM)
            localnet.wait(timeout=10)
