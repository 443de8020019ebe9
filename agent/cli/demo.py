"""`otc-agent demo`: the real daemon on the embedded default, fed a realistic mix of intents.

Two demo wallets are created under the home folder: a desk wallet allowed every pair, and a
treasury wallet limited to SOL/USDC and $50,000 a trade. The feeder drops signed intents into
the inbox at a steady rate (many small trades, a long tail of whales, both directions), with
about one in ten invalid in one of the ways real automation goes wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError
from solders.keypair import Keypair
from sqlalchemy.engine import make_url

from agent.app.assembly import build_runtime
from agent.app.daemon import Daemon
from agent.cli.intent_builder import (
    IntentDraft,
    new_nonce,
    sign_intent,
    tamper_signature,
    write_intent,
)
from agent.cli.report import build_report, render_table
from agent.config import AgentConfig
from agent.domain.policy import WalletPolicy
from agent.domain.tokens import Token, TokenRegistry, to_base_units
from agent.intake.stream.client import StreamUnavailable
from agent.intake.stream.submit import submit
from agent.store import wallets as wallet_rows
from onchain.keys import generate_keypair_file, load_keypair

__all__ = ["IntentMix", "run_demo"]

# (sell, buy, weight): SOL pairs dominate, as they do on Solana.
PAIRS = (
    ("SOL", "USDC", 35),
    ("USDC", "SOL", 25),
    ("SOL", "USDT", 12),
    ("USDT", "SOL", 8),
    ("USDC", "USDT", 10),
    ("USDT", "USDC", 5),
    ("RAY", "USDC", 5),
)
# Trade sizes in SOL-equivalent: (low, high, weight), drawn log-uniformly inside a bucket.
SIZES = ((0.05, 5, 60), (5, 300, 30), (300, 2500, 8), (2500, 8000, 2))
INVALID_KINDS = (
    "bad_signature",
    "expired",
    "ttl_too_long",
    "replayed_nonce",
    "replayed_id",
    "malformed_json",
    "unknown_mint",
    "zero_amount",
    "unknown_wallet",
    "pair_not_allowed",
    "notional_limit",
    "wrong_cluster",
    "min_out_unreachable",
)


def _keypair(path: Path) -> Keypair:
    return load_keypair(path) if path.exists() else generate_keypair_file(path)


class IntentMix:
    """Generates the demo's intent files; deterministic for a given seed."""

    def __init__(
        self,
        tokens: TokenRegistry,
        cluster: str,
        desk: Keypair,
        treasury: Keypair,
        stranger: Keypair,
        rng: random.Random,
    ) -> None:
        self.tokens = tokens
        self.cluster = cluster
        self.desk, self.treasury, self.stranger = desk, treasury, stranger
        self.rng = rng
        self.sent: Counter[str] = Counter()
        self._last_nonce = new_nonce()
        self._last_valid: tuple[int, bytes] | None = None  # nonce and file of the last valid intent

    def _nonce(self) -> int:
        self._last_nonce = max(new_nonce(), self._last_nonce + 1)
        return self._last_nonce

    def _size(self, token: Token) -> int:
        low, high, _ = self.rng.choices(SIZES, weights=[s[2] for s in SIZES])[0]
        sol = math.exp(self.rng.uniform(math.log(low), math.log(high)))
        sol_usd = self.tokens.require("SOL").static_usd
        units = Decimal(str(round(sol, 4))) * sol_usd / token.static_usd
        return to_base_units(
            units.quantize(Decimal(1).scaleb(-min(token.decimals, 4))), token.decimals
        )

    def _draft(self, **overrides: object) -> IntentDraft:
        sell_symbol, buy_symbol, _ = self.rng.choices(PAIRS, weights=[p[2] for p in PAIRS])[0]
        sell, buy = self.tokens.require(sell_symbol), self.tokens.require(buy_symbol)
        fields: dict[str, object] = {
            "cluster": self.cluster,
            "sell_mint": sell.mint,
            "buy_mint": buy.mint,
            "amount": self._size(sell),
            "not_after": int(time.time()) + 120,
            "nonce": self._nonce(),
            "max_slippage_bps": self.rng.choice((30, 50, 100, 150)),
        }
        fields.update(overrides)
        return IntentDraft(**fields)  # type: ignore[arg-type]

    def next(self, invalid_share: float = 0.1) -> tuple[str, str, bytes]:
        """(kind, file stem, bytes) of the next submission."""
        kind = self.rng.choice(INVALID_KINDS) if self.rng.random() < invalid_share else "valid"
        if kind in ("replayed_nonce", "replayed_id") and self._last_valid is None:
            kind = "valid"
        self.sent[kind] += 1
        signer, draft = self.desk, self._draft()
        if kind == "expired":
            draft = self._draft(not_after=int(time.time()) - 5)
        elif kind == "ttl_too_long":
            draft = self._draft(not_after=int(time.time()) + 3_600)
        elif kind == "replayed_nonce" and self._last_valid is not None:
            draft = self._draft(nonce=self._last_valid[0])
        elif kind == "replayed_id" and self._last_valid is not None:
            return kind, f"replay-{uuid.uuid4()}", self._last_valid[1]
        elif kind == "malformed_json":
            return kind, f"garbage-{uuid.uuid4()}", b'{"message": "truncated'
        elif kind == "unknown_mint":
            draft = self._draft(buy_mint=str(Keypair().pubkey()))
        elif kind == "zero_amount":
            draft = self._draft(amount=0)
        elif kind == "unknown_wallet":
            signer = self.stranger
        elif kind == "pair_not_allowed":
            signer = self.treasury
            draft = self._draft(
                sell_mint=self.tokens.require("RAY").mint, buy_mint=self.tokens.require("USDC").mint
            )
        elif kind == "notional_limit":
            signer = self.treasury
            draft = self._draft(
                sell_mint=self.tokens.require("SOL").mint,
                buy_mint=self.tokens.require("USDC").mint,
                amount=1_000 * 10**9,
            )
        elif kind == "wrong_cluster":
            draft = self._draft(cluster="devnet" if self.cluster != "devnet" else "local")
        elif kind == "min_out_unreachable":
            sell = self.tokens.require("SOL")
            buy = self.tokens.require("USDC")
            amount = 10 * 10**9
            draft = self._draft(
                sell_mint=sell.mint,
                buy_mint=buy.mint,
                amount=amount,
                min_out=2 * 10 * 150 * 10**6,
                max_slippage_bps=None,
            )
        intent_id, envelope = sign_intent(signer, draft)
        if kind == "bad_signature":
            envelope = tamper_signature(envelope)
        if kind == "valid":
            self._last_valid = (draft.nonce, envelope)
        return kind, intent_id, envelope


async def run_demo(
    config: AgentConfig,
    *,
    duration: float,
    rate: float,
    seed: int | None,
    to_stream: bool = False,
) -> int:
    """Feed the daemon for ``duration`` seconds (0: until a signal), then print the report.

    With ``to_stream`` the intents go to the Redis stream, where every replica on the same
    group shares them (the report, read from SQL, covers all of them on a shared database).
    """
    home = config.home_path
    keys = home / "keys"
    desk, treasury = _keypair(keys / "demo-desk.json"), _keypair(keys / "demo-treasury.json")
    runtime = build_runtime(config, registry=CollectorRegistry())
    await runtime.store.upgrade()
    policies = [
        WalletPolicy(
            pubkey=str(desk.pubkey()),
            max_notional_usd=Decimal(2_000_000),
            daily_notional_usd=Decimal(10**12),
            keypair_path=str(keys / "demo-desk.json"),
        ),
        WalletPolicy(
            pubkey=str(treasury.pubkey()),
            max_notional_usd=Decimal(50_000),
            daily_notional_usd=Decimal(5_000_000),
            pairs=frozenset({"SOL/USDC"}),
            keypair_path=str(keys / "demo-treasury.json"),
        ),
    ]
    for policy in policies:
        await runtime.store.write(wallet_rows.upsert_wallet, policy, "demo")
    mix = IntentMix(
        runtime.tokens, config.cluster.name, desk, treasury, Keypair(), random.Random(seed)
    )
    daemon = Daemon(runtime, metrics_optional=True)
    inbox = config.intake_root / "inbox"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    feed = (
        aioredis.Redis.from_url(
            config.intake.redis.url, socket_connect_timeout=2, socket_timeout=10
        )
        if to_stream
        else None
    )
    daemon_task = asyncio.create_task(daemon.run())
    started = time.monotonic()
    print(
        f"demo: {rate:g} intents/s for {'ever (Ctrl-C to stop)' if duration <= 0 else f'{duration:g} s'}"
        f"; home {home}; metrics on http://{config.metrics.listen}/metrics",
        flush=True,
    )
    status = asyncio.create_task(_status_line(daemon, mix, started, stop))
    sent = 0
    try:
        while not stop.is_set() and (duration <= 0 or time.monotonic() - started < duration):
            if daemon_task.done():
                break
            due = int((time.monotonic() - started) * rate) + 1
            while sent < due:
                _kind, stem, envelope = mix.next()
                if feed is not None:
                    await _add_to_stream(feed, config.intake.redis.stream, envelope)
                else:
                    await asyncio.to_thread(write_intent, inbox, stem, envelope)
                sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.05)
        await _drain(daemon, inbox, stop)
    finally:
        daemon.stop()
        await asyncio.gather(daemon_task, return_exceptions=True)
        status.cancel()
        await asyncio.gather(status, return_exceptions=True)
        if feed is not None:
            await feed.aclose()
    if daemon_task.exception() is not None:
        raise daemon_task.exception()  # type: ignore[misc]
    return await _final_report(config, mix, time.monotonic() - started)


async def _add_to_stream(client: aioredis.Redis, stream: str, envelope: bytes) -> None:
    try:
        await submit(client, stream, envelope)
    except StreamUnavailable as exc:
        # The demo keeps generating; the daemon's own stream reader reports the outage.
        print(f"\nredis unavailable, intent dropped by the demo feeder: {exc}", flush=True)


async def _drain(daemon: Daemon, inbox: Path, stop: asyncio.Event, limit_s: float = 30.0) -> None:
    """Let the daemon finish what was sent, so the table covers every intent."""
    deadline = time.monotonic() + limit_s
    while not stop.is_set() and time.monotonic() < deadline:
        pending, _ = daemon.intake.backlog()
        if daemon.stream is not None:
            with contextlib.suppress(StreamUnavailable, RedisError):
                waiting, _age = await daemon.stream.backlog()
                pending += waiting
        if pending == 0 and daemon.idle:
            return
        await asyncio.sleep(0.1)


async def _status_line(daemon: Daemon, mix: IntentMix, started: float, stop: asyncio.Event) -> None:
    tty = sys.stdout.isatty()
    while not stop.is_set():
        await asyncio.sleep(0.5 if tty else 5.0)
        stats = daemon.stats
        pending, _ = daemon.intake.backlog()
        line = (
            f"t={time.monotonic() - started:5.1f}s sent={sum(mix.sent.values())} "
            f"processed={stats.processed} filled={stats.filled} rejected={stats.rejected} "
            f"failed={stats.failed} backlog={pending}"
        )
        print(f"\r{line}   " if tty else line, end="" if tty else "\n", flush=True)


async def _final_report(config: AgentConfig, mix: IntentMix, elapsed: float) -> int:
    from agent.store.database import Store

    store = Store.from_url(config.database_url)
    try:
        report = await store.read(build_report)
    finally:
        await store.aclose()
    print()
    print(
        f"demo finished after {elapsed:.1f} s; generated: "
        + json.dumps(dict(sorted(mix.sent.items())))
    )
    print(render_table(report))
    print(
        f"\nEverything above is in {_where(config.database_url)}: "
        f"`otc-agent --home {config.home} report` prints it again."
    )
    return 0


def _where(database_url: str) -> str:
    """The database for a reader: a SQLite file's path, any other URL without its password."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)
