"""SIGKILL the real daemon process mid-run, restart it: nothing lost, nothing done twice."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable

import pytest
from solders.keypair import Keypair
from sqlalchemy import create_engine, select, text

from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.intake.folder.names import parse_claim_name
from agent.store.models import OtcPoolRow, SubmissionRow, TradeRow
from tests.support.agent_home import AgentHome
from tests.support.processes import spawn_agent


def _spawn(config_dir, home_dir, log, *args: str, mode: str = "paper"):  # type: ignore[no-untyped-def]
    return spawn_agent(config_dir, home_dir, log, "run", *args, mode=mode)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["paper", "dry-run", "send"])
async def test_sigkill_at_random_points_loses_and_repeats_nothing(
    make_config: Callable[..., AgentConfig],
    config_dir,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
    mode: str,
) -> None:
    """Five SIGKILLs mid-stream during 600 intents; after a final run every file is terminal exactly once."""
    config = make_config()
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    home.feed(600, invalid_share=0.15, seed=21)
    log_path = tmp_path / "daemon.log"
    with log_path.open("ab") as log:
        for jitter in (0.0, 0.03, 0.011, 0.05, 0.007):
            process = _spawn(config_dir, config.home_path, log, mode=mode)
            # Kill only once this run is visibly mid-stream: results appearing, work in flight.
            before = len(home.files("out"))
            for _ in range(3000):
                if len(home.files("out")) >= before + 40:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(jitter)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        final = _spawn(config_dir, config.home_path, log, "--once", mode=mode)
        assert final.wait(timeout=120) == 0, log_path.read_text()[-2000:]

    assert home.files("inbox") == [] and home.files("work") == []
    finished = home.files("done") + [
        n for n in home.files("rejected") if not n.endswith(".reason.json")
    ]
    assert not [n for n in home.files("out") + home.files("rejected") if n.startswith(".")]
    assert len(finished) == 600
    originals = [parse_claim_name(n)[1] for n in finished]  # type: ignore[index]
    assert len(set(originals)) == 600

    engine = create_engine(config.database_url.replace("+aiosqlite", ""))
    with engine.connect() as connection:
        submissions = list(connection.execute(select(SubmissionRow.__table__)))
        trades = list(connection.execute(select(TradeRow.__table__)))
        stuck = connection.execute(
            text("SELECT count(*) FROM intents WHERE status IN ('accepted', 'executing')")
        ).scalar()
        pools = list(connection.execute(select(OtcPoolRow.__table__)))
    engine.dispose()
    assert len(submissions) == 600
    assert stuck == 0
    assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})  # each leg once
    assert all(p.base_inventory >= 0 and p.quote_inventory >= 0 for p in pools)
    for pool in pools:  # the books move by exactly the recorded fills, reverts included
        base, quote = pool.target_base, pool.target_quote
        for trade in (t for t in trades if t.source == pool.id):
            if trade.sell_mint == pool.base_mint:
                base, quote = base + trade.amount_in, quote - trade.amount_out
            else:
                base, quote = base - trade.amount_out, quote + trade.amount_in
        assert (pool.base_inventory, pool.quote_inventory) == (base, quote), pool.id
    for submission in submissions:
        name = (
            submission.intent_id
            if submission.intent_id and submission.reason != "replayed_id"
            else submission.ref
        )
        document = json.loads((home.root / "out" / f"{name}.result.json").read_text())
        assert document["submission"]["ref"] == submission.ref or submission.reason == "replayed_id"


@pytest.mark.slow
async def test_sigterm_finishes_in_flight_work_and_exits_zero(
    make_config: Callable[..., AgentConfig],
    config_dir,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """SIGTERM mid-stream: exit 0, nothing left half-done in work/, the rest still in the inbox."""
    config = make_config()
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    home.feed(1500, invalid_share=0.1, seed=4)
    with (tmp_path / "daemon.log").open("ab") as log:
        process = _spawn(config_dir, config.home_path, log)
        for _ in range(3000):
            if len(home.files("out")) >= 50:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert home.files("work") == []
    finished = home.files("done") + [
        n for n in home.files("rejected") if not n.endswith(".reason.json")
    ]
    assert len(finished) + len(home.files("inbox")) == 1500
    assert 50 <= len(finished) < 1500
    stopped = [json.loads(line) for line in (tmp_path / "daemon.log").read_text().splitlines()
               if '"event": "stopped"' in line]  # fmt: skip
    assert stopped and stopped[-1]["processed"] == len(finished)
