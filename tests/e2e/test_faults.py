"""Faults the daemon must ride out: a database that vanishes mid-run, one missing at start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from solders.keypair import Keypair
from sqlalchemy import select
from sqlalchemy.engine import make_url

from agent.cli import main
from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.store.database import Store
from agent.store.models import SubmissionRow, TradeRow
from tests.support.agent_home import AgentHome
from tests.support.tcp_proxy import TcpProxy


async def _wait_until(predicate: Callable[[], bool], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_database_lost_mid_run_pauses_then_resumes_without_loss(
    make_config: Callable[..., AgentConfig], postgres_url: str
) -> None:
    """Cutting PostgreSQL mid-run stops progress; after it returns every intent ends exactly once."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    config = make_config(
        proxied, execution__honour_execution_delay="false", database__retry_max_backoff_s="0.5"
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    home.feed(200, invalid_share=0.1, seed=3)
    daemon = home.daemon()
    task = asyncio.create_task(daemon.run())
    try:
        await _wait_until(lambda: daemon.stats.processed >= 40, 30)
        await proxy.cut()
        await asyncio.sleep(0.5)
        frozen = daemon.stats.processed
        await asyncio.sleep(1.0)
        assert daemon.stats.processed <= frozen + daemon.max_workers
        assert daemon.stats.processed < 200
        await proxy.restore()
        await _wait_until(lambda: daemon.stats.processed == 200 and daemon.idle, 60)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
        await proxy.cut()
    assert daemon.stats.store_outages >= 1
    assert home.files("inbox") == [] and home.files("work") == []
    store = Store.from_url(postgres_url)
    submissions = await store.read(lambda c: list(c.execute(select(SubmissionRow.__table__))))
    trades = await store.read(lambda c: list(c.execute(select(TradeRow.__table__))))
    await store.aclose()
    assert len(submissions) == 200
    assert len({s.ref for s in submissions}) == 200
    assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})  # each leg once


def test_database_unreachable_at_start_exits_with_a_clear_message(
    config_dir,
    tmp_path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """`run --once` against a database nobody listens on exits 3 and says so."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    import os

    os.environ["DATABASE_URL"] = f"postgresql+psycopg://nobody@127.0.0.1:{port}/none"
    try:
        code = main(
            [
                "--config",
                str(config_dir / "local.toml"),
                "--home",
                str(tmp_path / "h"),
                "run",
                "--once",
            ]
        )
    finally:
        del os.environ["DATABASE_URL"]
    assert code == 3
    assert "cannot reach the database" in capsys.readouterr().err
