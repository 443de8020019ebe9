"""Three daemon processes share one PostgreSQL and one Redis stream (or one intake folder);
one is SIGKILLed mid-run and restarted. Every intent reaches its terminal state exactly once,
no OTC book goes below zero, the books moved by exactly the recorded fills, and a wallet's
daily limit holds across the replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from solders.keypair import Keypair
from sqlalchemy import Engine, create_engine, func, select, update
from sqlalchemy.engine import make_url

from agent.config import AgentConfig
from agent.intake.folder.intake import DirectoryIntake
from agent.intake.folder.layout import IntakeLayout
from agent.store.models import IntentRow, OtcPoolRow, SubmissionRow, TradeRow, WalletRow
from tests.conftest import unique_key
from tests.support.agent_home import AgentHome
from tests.support.localnet_books import books_match_chain
from tests.support.ports import free_port
from tests.support.processes import spawn_agent
from tests.support.tcp_proxy import TcpProxy

INTENTS = 5_000
REPLICAS = 3
# The treasury wallet may trade this much a day: the mix asks for far more, so the limit binds.
TREASURY_DAILY_USD = Decimal(400_000)
DEADLINE_S = 600


def _common_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "OTC_AGENT__PRICES__SOURCES": '["static"]',
        # The books move only by fills during the run, so they can be reconciled with them (and
        # with the chain: replenishing and arbitrage move the books, not the vaults).
        "OTC_AGENT__VENUES__OTC__REPLENISH_INTERVAL_S": "1000000",
        "OTC_AGENT__VENUES__LOCALDEX__REBALANCE_INTERVAL_S": "1000000",
        "OTC_AGENT__EXECUTION__MAX_WORKERS": "16",
        # Intents live long enough for a killed replica's share to be finished after restart.
        "OTC_AGENT__INTAKE__MAX_TTL_S": "600",
    }


async def _prepared_home(
    make_config: Callable[..., AgentConfig], postgres_url: str
) -> tuple[AgentHome, Engine]:
    config = make_config(postgres_url)
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            update(WalletRow.__table__)
            .where(WalletRow.__table__.c.pubkey == str(home.treasury.pubkey()))
            .values(daily_notional_usd=TREASURY_DAILY_USD)
        )
    # The books start where the daemons will find them (created from pools.toml at start).
    runtime = home.runtime()
    await runtime.start_books()
    await runtime.aclose()
    return home, engine


def _envelopes(home: AgentHome) -> list[bytes]:
    mix = home.mix(seed=31)
    return [mix.next(0.1)[2] for _ in range(INTENTS)]


def _books(engine: Engine) -> dict[str, tuple[int, int, str]]:
    pools = OtcPoolRow.__table__
    with engine.connect() as connection:
        return {
            row.id: (row.base_inventory, row.quote_inventory, row.base_mint)
            for row in connection.execute(select(pools))
        }


async def _wait_until(
    done: Callable[[], bool], what: str, procs: list[subprocess.Popen[bytes]]
) -> None:
    """Poll, yielding to the event loop (where the database proxy runs), until ``done``."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        for proc in procs:
            assert proc.poll() is None, f"a replica exited with {proc.returncode} before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


def _terminal(engine: Engine, source: str) -> int:
    submissions = SubmissionRow.__table__
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(submissions).where(submissions.c.source == source)
            ).scalar_one()
        )


def _check_books_and_limits(
    engine: Engine, start: dict[str, tuple[int, int, str]], treasury: str
) -> None:
    end = _books(engine)
    trades = TradeRow.__table__
    moved: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with engine.connect() as connection:
        rows = list(connection.execute(select(trades).where(trades.c.venue == "otc")))
        treasury_micros = connection.execute(
            select(func.coalesce(func.sum(trades.c.notional_usd_micros), 0)).where(
                trades.c.wallet == treasury
            )
        ).scalar_one()
    assert rows, "the OTC pools filled nothing"
    for trade in rows:
        base_mint = start[trade.source][2]
        if trade.sell_mint == base_mint:  # the pool bought base and paid quote
            moved[trade.source][0] += trade.amount_in
            moved[trade.source][1] -= trade.amount_out
        else:
            moved[trade.source][1] += trade.amount_in
            moved[trade.source][0] -= trade.amount_out
    for pool, (base, quote, _mint) in end.items():
        assert base >= 0 and quote >= 0, pool
        assert (base - start[pool][0], quote - start[pool][1]) == tuple(moved[pool]), pool
    # Legs of one intent share its notional, so the sum over trades is the filled notional.
    assert int(treasury_micros) <= int(TREASURY_DAILY_USD * 1_000_000)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(name="replicas")
def _replicas() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    _stop(procs)


@pytest.mark.slow
async def test_three_replicas_on_one_stream_finish_every_intent_exactly_once(
    make_config: Callable[..., AgentConfig],
    postgres_url: str,
    redis_url: str,
    config_dir: Path,
    tmp_path: Path,
    replicas: list[subprocess.Popen[bytes]],
) -> None:
    """5,000 stream entries, three replicas; PostgreSQL goes away for a few seconds, then one
    replica is SIGKILLed and restarted: each entry is terminal once in SQL, acknowledged,
    answered on the results stream, and nothing is dead-lettered; books reconcile with the
    fills and the daily limit holds."""
    home, engine = await _prepared_home(make_config, postgres_url)
    # The replicas reach PostgreSQL through a proxy the test can cut, as a restart would.
    target = make_url(postgres_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    replica_database = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    start = _books(engine)
    stream, group = unique_key("intents"), unique_key("group")
    results, dead = unique_key("results"), unique_key("dead")
    client = redis.Redis.from_url(redis_url)
    try:
        entry_ids: list[str] = []
        pipe = client.pipeline(transaction=False)
        for envelope in _envelopes(home):
            pipe.xadd(stream, {"intent": envelope})
        entry_ids = [entry.decode() for entry in pipe.execute()]
        env = _common_env(replica_database) | {
            "OTC_AGENT__INTAKE__REDIS__ENABLED": "true",
            "OTC_AGENT__INTAKE__REDIS__URL": redis_url,
            "OTC_AGENT__INTAKE__REDIS__STREAM": stream,
            "OTC_AGENT__INTAKE__REDIS__GROUP": group,
            "OTC_AGENT__INTAKE__REDIS__RESULTS_STREAM": results,
            "OTC_AGENT__INTAKE__REDIS__DEAD_LETTER_STREAM": dead,
            "OTC_AGENT__INTAKE__REDIS__CLAIM_IDLE_S": "2",
        }

        def spawn(index: int) -> subprocess.Popen[bytes]:
            # The child keeps its own descriptor for the log; ours is closed at once.
            with (tmp_path / f"replica-{index}.log").open("ab") as log:
                return spawn_agent(
                    config_dir,
                    tmp_path / f"home-{index}",
                    log,
                    "run",
                    mode="paper",
                    extra_env=env | {"OTC_AGENT__INTAKE__REDIS__CONSUMER": f"replica-{index}"},
                )

        replicas.extend(spawn(i) for i in range(REPLICAS))
        await _wait_until(lambda: _terminal(engine, "redis") >= INTENTS // 4, "a quarter", replicas)
        await proxy.cut()
        await asyncio.sleep(3)
        paused = _terminal(engine, "redis")
        await proxy.restore()
        await _wait_until(lambda: _terminal(engine, "redis") > paused + 500, "resuming", replicas)
        replicas[0].send_signal(signal.SIGKILL)
        await asyncio.to_thread(replicas[0].wait, 30)
        replicas[0] = spawn(0)
        await _wait_until(lambda: _terminal(engine, "redis") >= INTENTS, "every intent", replicas)
        await _wait_until(
            lambda: not client.xpending(stream, group)["pending"], "every ack", replicas
        )
        with engine.connect() as connection:
            submissions = SubmissionRow.__table__
            refs = [
                row.ref
                for row in connection.execute(
                    select(submissions.c.ref).where(submissions.c.source == "redis")
                )
            ]
        assert sorted(refs) == sorted(entry_ids)
        answered = {fields[b"entry_id"].decode() for _id, fields in client.xrange(results)}
        assert answered == set(entry_ids)
        assert client.xlen(dead) == 0
        assert client.xlen(stream) == 0  # answered entries leave the stream
        _check_books_and_limits(engine, start, str(home.treasury.pubkey()))
    finally:
        # Stopped before the keys go: a running replica would recreate its group (and stream).
        await asyncio.to_thread(_stop, replicas)
        await proxy.cut()
        client.delete(stream, results, dead)
        client.close()
        engine.dispose()


@pytest.mark.slow
async def test_three_replicas_on_one_folder_finish_every_file_exactly_once(
    make_config: Callable[..., AgentConfig],
    postgres_url: str,
    config_dir: Path,
    tmp_path: Path,
    replicas: list[subprocess.Popen[bytes]],
) -> None:
    """5,000 files in one inbox, three replicas on the folder, one SIGKILLed and restarted:
    each file is terminal once (one submission row, one original in done/ or rejected/, one
    result), and the books reconcile with the fills."""
    home, engine = await _prepared_home(make_config, postgres_url)
    start = _books(engine)
    shared = tmp_path / "shared-home"
    inbox = shared / home.config.intake.directory / "inbox"
    inbox.mkdir(parents=True)
    for number, envelope in enumerate(_envelopes(home)):
        (inbox / f"intent-{number:05d}.json").write_bytes(envelope)
    env = _common_env(postgres_url)

    def spawn(index: int) -> subprocess.Popen[bytes]:
        with (tmp_path / f"replica-{index}.log").open("ab") as log:
            return spawn_agent(config_dir, shared, log, "run", mode="paper", extra_env=env)

    replicas.extend(spawn(i) for i in range(REPLICAS))
    await _wait_until(lambda: _terminal(engine, "directory") >= INTENTS // 3, "a third", replicas)
    replicas[0].send_signal(signal.SIGKILL)
    await asyncio.to_thread(replicas[0].wait, 30)
    replicas[0] = spawn(0)
    await _wait_until(lambda: _terminal(engine, "directory") >= INTENTS, "every intent", replicas)
    root = shared / home.config.intake.directory
    await _wait_until(lambda: _only_hidden(root / "work"), "work/ empty", replicas)
    finished = os.listdir(root / "done") + [
        name for name in os.listdir(root / "rejected") if not name.endswith(".reason.json")
    ]
    originals = sorted(_original_name(name) for name in finished)
    assert originals == sorted(f"intent-{n:05d}.json" for n in range(INTENTS))
    assert _terminal(engine, "directory") == INTENTS
    _check_books_and_limits(engine, start, str(home.treasury.pubkey()))
    engine.dispose()


def _only_hidden(work: Path) -> bool:
    """Nothing claimed is left: only the replicas' owner locks (work/.owners)."""
    return all(name.startswith(".") for name in os.listdir(work))


def _original_name(name: str) -> str:
    """done/ and rejected/ keep the original file name after the claim prefix."""
    return name.split("--", 1)[-1] if "--" in name else name


async def test_a_replica_settles_at_start_only_its_own_or_a_dead_replicas_intents(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Left executing by: itself or a dead replica on this host and folder (or before replicas
    were named): settled at start; by a live replica, or one whose folder or host differs: left
    alone."""
    config = make_config(sqlite_url)
    daemon = AgentHome(config, Keypair(), Keypair()).daemon()
    await daemon.intake.start(watch=False)
    live = DirectoryIntake(config.intake_root, max_file_bytes=1024, rescan_interval_s=1.0)
    dead = DirectoryIntake(config.intake_root, max_file_bytes=1024, rescan_interval_s=1.0)
    await live.start(watch=False)
    await dead.start(watch=False)
    dead_id = dead.owner.id
    await dead.aclose()
    prefix = daemon._replica_prefix
    host = socket.gethostname()
    try:
        cases = {
            None: True,
            f"{prefix}/{daemon.intake.owner.id}": True,
            f"{prefix}/{dead_id}": True,
            f"{prefix}/{live.owner.id}": False,
            # Same host, another intake folder: its owners' locks are not visible from here.
            f"{host}:0123456789ab/{dead_id}": False,
            f"another-host:{prefix.partition(':')[2]}/{dead_id}": False,
        }
        assert {replica: daemon._ours(replica) for replica in cases} == cases
    finally:
        await live.aclose()
        await daemon.intake.aclose()
        await daemon.runtime.aclose()


@pytest.mark.slow
async def test_three_replicas_sending_to_one_localnet_keep_every_vault_equal_to_its_book(
    make_config: Callable[..., AgentConfig],
    postgres_url: str,
    config_dir: Path,
    tmp_path: Path,
    replicas: list[subprocess.Popen[bytes]],
) -> None:
    """Send mode: three replicas on one folder, one PostgreSQL and one `otc-agent localnet`,
    one SIGKILLed mid-run and restarted: every file terminal once, nothing left executing, no
    leg recorded twice, and every pool's vaults on the chain equal its books."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = make_config(
        postgres_url,
        execution__mode="send",
        execution__honour_execution_delay="false",
        cluster__url=url,
    )
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets(keys_dir=config.home_path / "keys")
    IntakeLayout(home.root).ensure()
    env = _common_env(postgres_url)
    log_path = tmp_path / "localnet.log"
    with log_path.open("ab") as log:
        replicas.append(
            spawn_agent(
                config_dir,
                config.home_path,
                log,
                "localnet",
                "--port",
                str(port),
                mode="send",
                url=url,
                extra_env=env,
            )
        )
    await _wait_until(lambda: b"localnet on" in log_path.read_bytes(), "the localnet", replicas)
    total = 1_000
    home.feed(total, invalid_share=0.1, seed=33)

    def spawn(index: int) -> subprocess.Popen[bytes]:
        with (tmp_path / f"replica-{index}.log").open("ab") as log:
            return spawn_agent(
                config_dir, config.home_path, log, "run", mode="send", url=url, extra_env=env
            )

    replicas.extend(spawn(i) for i in range(REPLICAS))
    engine = create_engine(postgres_url)
    try:
        await _wait_until(lambda: _terminal(engine, "directory") >= total // 3, "a third", replicas)
        replicas[1].send_signal(signal.SIGKILL)
        await asyncio.to_thread(replicas[1].wait, 30)
        replicas[1] = spawn(1)
        await _wait_until(lambda: _terminal(engine, "directory") >= total, "every file", replicas)
        await _wait_until(lambda: _only_hidden(home.root / "work"), "work/ empty", replicas)
    finally:
        engine.dispose()
    intents = await home.rows(IntentRow.__table__)
    assert not [i for i in intents if i.status in ("accepted", "executing")]
    trades = await home.rows(TradeRow.__table__)
    assert len(trades) == len({(t.intent_id, t.leg_index) for t in trades})
    assert await books_match_chain(home, url) > 0
