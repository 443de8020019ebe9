"""The attacker's bench: a registered agent home, signed intents, and what a daemon run made of
each file (by the name it was dropped under).

Wallets: ``desk`` (every pair, $2M a trade) and ``treasury`` (SOL/USDC only, $50k a trade),
as in tests/support/agent_home.py; ``stranger`` is a key no registry knows.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from sqlalchemy import Engine, Table, create_engine, select

from agent.app.daemon import Daemon
from agent.app.run_stats import RunStats
from agent.cli.intent_builder import IntentDraft, new_nonce, sign_intent, write_intent
from agent.config import AgentConfig
from agent.intake.folder.layout import IntakeLayout
from agent.store.models import (
    IntentRow,
    OtcPoolRow,
    RouteLegRow,
    SubmissionRow,
    TradeRow,
    WalletUsageRow,
)
from tests.support.agent_home import AgentHome

DESK = Keypair.from_seed(bytes([1]) * 32)
TREASURY = Keypair.from_seed(bytes([2]) * 32)
STRANGER = Keypair.from_seed(bytes([3]) * 32)


@dataclass(frozen=True)
class Signed:
    """A signed intent: its id, nonce and the envelope bytes a wallet would drop."""

    intent_id: str
    nonce: int
    data: bytes


@dataclass(frozen=True)
class Ending:
    """What became of one submission: its SQL row and the folder its file ended in."""

    status: str
    reason: str | None
    detail: str
    intent_id: str | None
    ref: str


@dataclass
class Bench:
    home: AgentHome
    _nonces: itertools.count[int] = field(default_factory=lambda: itertools.count(new_nonce()))

    @property
    def root(self) -> Path:
        return self.home.root

    @property
    def inbox(self) -> Path:
        return self.home.root / "inbox"

    @cached_property
    def _mints(self) -> dict[str, str]:
        return {token.symbol: token.mint for token in self.home.runtime().tokens}

    @cached_property
    def _engine(self) -> Engine:
        return create_engine(self.home.config.database_url)

    def close(self) -> None:
        if "_engine" in self.__dict__:
            self._engine.dispose()

    def mint(self, symbol: str) -> str:
        return self._mints[symbol]

    async def rows(self, table: Table) -> list[Any]:
        """Every row of ``table``, read straight from the database."""
        with self._engine.connect() as connection:
            return list(connection.execute(select(table)))

    def draft(self, **overrides: Any) -> IntentDraft:
        """1 SOL for USDC at up to 100 bps slippage, live for two minutes, a fresh nonce."""
        fields: dict[str, Any] = {
            "cluster": self.home.config.cluster.name,
            "sell_mint": self.mint("SOL"),
            "buy_mint": self.mint("USDC"),
            "amount": 10**9,
            "not_after": int(time.time()) + 120,
            "nonce": next(self._nonces),
            "max_slippage_bps": 100,
        }
        fields.update(overrides)
        return IntentDraft(**fields)

    def sign(self, keypair: Keypair = DESK, **overrides: Any) -> Signed:
        draft = self.draft(**overrides)
        intent_id, data = sign_intent(keypair, draft)
        return Signed(intent_id, draft.nonce, data)

    def drop(self, name: str, data: bytes) -> Path:
        """Write ``inbox/<name>`` the way a wallet does (``name`` without ``.json``)."""
        return write_intent(self.inbox, name, data)

    def drop_valid(self, count: int, prefix: str = "valid") -> dict[str, Signed]:
        """``count`` valid intents from the desk; file name -> intent."""
        dropped = {}
        for i in range(count):
            signed = self.sign()
            dropped[self.drop(f"{prefix}-{i}", signed.data).name] = signed
        return dropped

    def daemon(self) -> Daemon:
        return self.home.daemon()

    async def run_once(self) -> RunStats:
        return await self.daemon().run(once=True)

    async def endings(self) -> dict[str, Ending]:
        """Every recorded submission by the name it was dropped under."""
        rows = await self.rows(SubmissionRow.__table__)
        return {
            row.name: Ending(row.status, row.reason, row.detail, row.intent_id, row.ref)
            for row in rows
        }

    async def trades(self) -> list[Any]:
        return await self.rows(TradeRow.__table__)

    async def intents(self) -> dict[str, Any]:
        return {row.id: row for row in await self.rows(IntentRow.__table__)}

    async def legs(self) -> list[Any]:
        return await self.rows(RouteLegRow.__table__)

    async def used_usd_micros(self) -> int:
        """The wallets' daily usage, summed: what accepted intents reserved."""
        return sum(row.used_usd_micros for row in await self.rows(WalletUsageRow.__table__))

    async def otc_books(self) -> dict[str, tuple[int, int]]:
        rows = await self.rows(OtcPoolRow.__table__)
        return {row.id: (row.base_inventory, row.quote_inventory) for row in rows}

    def files(self, folder: str) -> list[str]:
        return self.home.files(folder)


async def make_bench(
    make_config: Callable[..., AgentConfig], url: str, *, keys: bool = False, **env: str
) -> Bench:
    """A home with the desk and treasury registered (with ``keys``, their key files held in
    <home>/keys) and the intake folders created. Paper mode unless ``env`` says otherwise."""
    settings = {"execution__honour_execution_delay": "false", "execution__mode": "paper"} | env
    config = make_config(url, **settings)
    home = AgentHome(config, DESK, TREASURY)
    await home.register_wallets(keys_dir=config.home_path / "keys" if keys else None)
    IntakeLayout(home.root).ensure()
    return Bench(home)


@pytest.fixture(name="bench")
async def _bench(make_config: Callable[..., AgentConfig], sqlite_url: str) -> AsyncIterator[Bench]:
    """A paper-mode home on SQLite: fills move the books in SQL, nothing touches a chain."""
    bench = await make_bench(make_config, sqlite_url)
    yield bench
    bench.close()


CliRun = Callable[..., tuple[int, str, str]]


@pytest.fixture(name="cli")
def _cli(config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """`otc-agent ARGS` in-process with the test's config and home: (exit code, stdout, stderr)."""
    from agent.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(
            ["--config", str(config_dir / "local.toml"), "--home", str(tmp_path / "home"), *args]
        )
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
