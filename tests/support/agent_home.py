"""A ready-to-run agent for integration tests: config, runtime, registered wallets, a feeder."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry
from solders.keypair import Keypair
from sqlalchemy import select

from agent.app.assembly import Runtime, build_runtime
from agent.app.daemon import Daemon
from agent.cli.demo import IntentMix
from agent.cli.intent_builder import write_intent
from agent.config import AgentConfig
from agent.domain.policy import WalletPolicy
from agent.intake.folder.layout import IntakeLayout
from agent.store import wallets as wallet_rows
from onchain.keys import write_keypair


@dataclass(frozen=True)
class Fed:
    """One file dropped into the inbox: its mix kind and, when readable, its not_after."""

    kind: str
    not_after: int | None


def _not_after(envelope: bytes) -> int | None:
    try:
        return int(json.loads(json.loads(envelope)["message"])["not_after"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class AgentHome:
    config: AgentConfig
    desk: Keypair
    treasury: Keypair

    @property
    def root(self) -> Path:
        return self.config.intake_root

    def runtime(self, *, seed: int = 7) -> Runtime:
        return build_runtime(self.config, registry=CollectorRegistry(), rng=random.Random(seed))

    def daemon(self, *, seed: int = 7) -> Daemon:
        return Daemon(self.runtime(seed=seed), serve_metrics=False)

    async def register_wallets(self, keys_dir: Path | None = None) -> None:
        """Register the desk and treasury wallets; with keys_dir, their key files are held too."""
        runtime = self.runtime()
        await runtime.store.upgrade()
        paths = {}
        if keys_dir is not None:
            for name, key in (("desk", self.desk), ("treasury", self.treasury)):
                paths[name] = keys_dir / f"{name}.json"
                if not paths[name].exists():
                    write_keypair(key, paths[name])
        desk = WalletPolicy(
            pubkey=str(self.desk.pubkey()),
            max_notional_usd=Decimal(2_000_000),
            daily_notional_usd=Decimal(10**12),
            keypair_path=str(paths.get("desk", "")),
        )
        treasury = WalletPolicy(
            pubkey=str(self.treasury.pubkey()),
            max_notional_usd=Decimal(50_000),
            daily_notional_usd=Decimal(10**9),
            pairs=frozenset({"SOL/USDC"}),
            keypair_path=str(paths.get("treasury", "")),
        )
        for policy in (desk, treasury):
            await runtime.store.write(wallet_rows.upsert_wallet, policy, "test")
        await runtime.aclose()

    @classmethod
    async def ready(cls, config: AgentConfig, *, hold_keys: bool = False) -> AgentHome:
        """A home with the two demo wallets registered (their key files held under the home's
        keys/ when ``hold_keys``: dry-run and send sign for them) and the intake folders."""
        home = cls(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
        await home.register_wallets(keys_dir=config.home_path / "keys" if hold_keys else None)
        IntakeLayout(home.root).ensure()
        return home

    async def rows(self, table) -> list:  # type: ignore[no-untyped-def]
        """Every row of a table, read through a fresh runtime's store."""
        runtime = self.runtime()
        try:
            return await runtime.store.read(lambda c: list(c.execute(select(table))))
        finally:
            await runtime.aclose()

    def mix(self, seed: int = 1, *, ttl_s: int | None = None) -> IntentMix:
        """The demo's intent mix; ``ttl_s`` replaces its two-minute lifetime (for long runs)."""
        tokens = self.runtime().tokens
        kind = IntentMix if ttl_s is None else _long_lived(ttl_s)
        return kind(
            tokens,
            self.config.cluster.name,
            self.desk,
            self.treasury,
            Keypair.from_seed(bytes([9]) * 32),
            random.Random(seed),
        )

    def feed(
        self, count: int, *, invalid_share: float = 0.2, seed: int = 1, ttl_s: int | None = None
    ) -> dict[str, str]:
        """Drop `count` generated intents into the inbox; returns file name -> kind."""
        mix = self.mix(seed, ttl_s=ttl_s)
        written = {}
        for _ in range(count):
            kind, stem, envelope = mix.next(invalid_share)
            path = write_intent(self.root / "inbox", stem, envelope)
            written[path.name] = kind
        return written

    async def feed_steadily(
        self,
        count: int,
        *,
        rate: float,
        invalid_share: float = 0.1,
        seed: int = 1,
        ttl_s: int | None = None,
    ) -> dict[str, Fed]:
        """Drop `count` generated intents at `rate` a second, as a steady client would;
        returns file name -> what was fed."""
        mix = self.mix(seed, ttl_s=ttl_s)
        fed: dict[str, Fed] = {}
        started = time.monotonic()
        for number in range(count):
            kind, stem, envelope = mix.next(invalid_share)
            path = write_intent(self.root / "inbox", stem, envelope)
            fed[path.name] = Fed(kind, _not_after(envelope))
            ahead = started + (number + 1) / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)  # pacing the feed, not waiting for anything
        return fed

    def files(self, folder: str) -> list[str]:
        return sorted(os.listdir(self.root / folder))


def _long_lived(ttl_s: int) -> type[IntentMix]:
    """IntentMix whose valid intents live ``ttl_s`` (expired and too-long ones stay as they are)."""

    class LongLivedMix(IntentMix):
        def _draft(self, **overrides: object):  # type: ignore[no-untyped-def]
            overrides.setdefault("not_after", int(time.time()) + ttl_s)
            return super()._draft(**overrides)

    return LongLivedMix
