"""Commands over the database: the report, the wallet registry and schema upgrades."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from solders.pubkey import Pubkey

from agent.app.builders import build_tokens
from agent.cli.usage import UsageError
from agent.config import AgentConfig
from agent.domain.policy import WalletPolicy
from agent.store.database import Store
from onchain.keys import load_keypair

__all__ = ["db_upgrade", "report", "wallet", "with_store"]


async def with_store(config: AgentConfig) -> Store:
    store = Store.from_url(config.database_url, connect_timeout_s=config.database.connect_timeout_s)
    await store.upgrade()
    return store


async def report(config: AgentConfig, *, as_json: bool) -> int:
    from agent.cli.report import build_report, render_table

    store = await with_store(config)
    try:
        report = await store.read(build_report)
    finally:
        await store.aclose()
    print(json.dumps(report, indent=2) if as_json else render_table(report))
    return 0


async def wallet(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.store import wallets

    store = await with_store(config)
    try:
        if args.wallet_command == "add":
            policy = _wallet_policy(config, args)
            await store.write(wallets.upsert_wallet, policy, "cli")
            print(f"registered {policy.pubkey}")
            return 0
        listed = await store.read(wallets.list_wallets)
    finally:
        await store.aclose()
    rows = [
        {
            "pubkey": p.pubkey,
            "max_notional_usd": str(p.max_notional_usd),
            "daily_notional_usd": str(p.daily_notional_usd),
            "pairs": sorted(p.pairs),
            "keypair": p.keypair_path,
            "source": source,
        }
        for p, source in listed
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            pairs = ",".join(row["pairs"]) or "all pairs"
            print(
                f"{row['pubkey']}  max ${row['max_notional_usd']}  daily ${row['daily_notional_usd']}"
                f"  {pairs}  ({row['source']})"
            )
    return 0


def _wallet_policy(config: AgentConfig, args: argparse.Namespace) -> WalletPolicy:
    try:
        Pubkey.from_string(args.pubkey)
    except ValueError:
        raise UsageError(f"{args.pubkey!r} is not a base58 public key") from None
    tokens = build_tokens(config)
    pairs = frozenset(p.strip().upper() for p in args.pairs.split(",") if p.strip())
    for pair in pairs:
        symbols = pair.split("/")
        if len(symbols) != 2 or any(tokens.by_symbol(s) is None for s in symbols):
            raise UsageError(f"--pairs: {pair!r} must name two configured tokens, like SOL/USDC")
    if args.keypair:
        keypair = load_keypair(Path(args.keypair))
        if str(keypair.pubkey()) != args.pubkey:
            raise UsageError("--keypair holds a different public key")
    if args.max_notional_usd <= 0 or args.daily_notional_usd <= 0:
        raise UsageError("notional limits must be positive")
    return WalletPolicy(
        pubkey=args.pubkey,
        max_notional_usd=args.max_notional_usd,
        daily_notional_usd=args.daily_notional_usd,
        pairs=pairs,
        keypair_path=str(Path(args.keypair).resolve()) if args.keypair else "",
    )


async def db_upgrade(config: AgentConfig) -> int:
    store = await with_store(config)
    await store.aclose()
    print("database is at the latest schema")
    return 0
