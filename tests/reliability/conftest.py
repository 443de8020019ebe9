"""Fixtures for the reliability suite: a send-mode home beside a running `otc-agent localnet`."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from tests.support.agent_home import AgentHome
from tests.support.ports import free_port
from tests.support.private_postgres import PrivatePostgres, server_binaries
from tests.support.processes import spawn_agent, wait_for

# The books must move only by fills for them to be compared with the chain: replenishing the
# OTC pools and the local DEX's arbitrage move books, never vaults.
BOOKS_ONLY_BY_FILLS = {
    "OTC_AGENT__VENUES__OTC__REPLENISH_INTERVAL_S": "1000000",
    "OTC_AGENT__VENUES__LOCALDEX__REBALANCE_INTERVAL_S": "1000000",
}
# The same, as make_config's keyword overrides.
BOOKS_ONLY_BY_FILLS_CONFIG = {
    name.removeprefix("OTC_AGENT__").lower(): value for name, value in BOOKS_ONLY_BY_FILLS.items()
}


@dataclass
class Localnet:
    """A send-mode agent home and the `otc-agent localnet` process holding its chain."""

    home: AgentHome
    config_dir: Path
    url: str
    log: Path
    env: dict[str, str]

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """`otc-agent ARGS` (e.g. "run") in send mode against this localnet."""
        with self.log.open("ab") as log:
            return spawn_agent(
                self.config_dir,
                self.home.config.home_path,
                log,
                *args,
                mode="send",
                url=self.url,
                extra_env=self.env,
            )


@pytest.fixture(name="make_localnet")
async def _make_localnet(
    make_config: Callable[..., AgentConfig], config_dir: Path, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Localnet]]]:
    """Registered wallets (keys held) in a send-mode home, then `otc-agent localnet` seeded
    from its books; on the given database (default: SQLite in the home). Stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    async def make(database_url: str | None = None) -> Localnet:
        url = f"http://127.0.0.1:{free_port()}"
        env = {"OTC_AGENT__PRICES__SOURCES": '["static"]', **BOOKS_ONLY_BY_FILLS}
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        config = make_config(
            database_url,
            execution__mode="send",
            execution__honour_execution_delay="false",
            cluster__url=url,
            **BOOKS_ONLY_BY_FILLS_CONFIG,
        )
        home = AgentHome(
            config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32)
        )
        await home.register_wallets(keys_dir=config.home_path / "keys")
        IntakeLayout(home.root).ensure()
        net = Localnet(home, config_dir, url, tmp_path / "processes.log", env)
        process = net.spawn("localnet", "--port", url.rsplit(":", 1)[1])
        processes.append(process)
        await wait_for(
            lambda: b"localnet on" in net.log.read_bytes(),
            "the localnet to listen",
            within_s=60,
            alive=process,
            log=net.log,
        )
        return net

    yield make
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(name="localnet")
async def _localnet(make_localnet: Callable[..., Awaitable[Localnet]]) -> Localnet:
    """A send-mode home on SQLite beside its `otc-agent localnet`."""
    return await make_localnet()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(name="private_postgres")
def _private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, running; skips where no server is installed."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    if os.geteuid() == 0 and not _user_exists("postgres"):
        pytest.skip("running as root, and no postgres user to run the server as")
    cluster = PrivatePostgres(binaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
