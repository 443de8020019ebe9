"""The `otc-agent` command line. Exit codes: 0 success, 1 a failed check, 2 bad configuration or usage."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from solders.pubkey import Pubkey

from agent.config import AgentConfig, ConfigError, load_config
from agent.domain.outcomes import IntentRejected
from agent.domain.policy import WalletPolicy
from agent.domain.tokens import from_base_units, to_base_units
from agent.intent_builder import IntentDraft, new_nonce, sign_intent, write_intent
from agent.logging import configure_logging
from agent.malloc_arenas import limit_malloc_arenas
from agent.runtime import build_runtime, build_tokens
from agent.settling import SettlementInDoubt
from agent.store.database import Store, StoreUnavailable
from agent.verification import verify_submission
from onchain.cluster import ClusterUnavailable
from onchain.keys import KeyFileError, generate_keypair_file, load_keypair

__all__ = ["main"]


class UsageError(Exception):
    """The command line asks for something impossible; exit 2 with this message."""


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otc-agent", description=__doc__)
    parser.add_argument("--config", type=Path, help="main TOML file (default configs/local.toml)")
    parser.add_argument("--home", help="folder for all mutable state (default: the config's home)")
    parser.add_argument(
        "--log-level",
        default=None,
        help="default info (warning for the demo, whose table is the output)",
    )
    parser.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--once", action="store_true", help="process what is pending, then exit")
    run.add_argument(
        "--allow-mainnet-send",
        action="store_true",
        help="with execution.allow_mainnet_send, permit send mode on mainnet-beta",
    )

    demo = commands.add_parser("demo", help="run the daemon on a generated mix of intents")
    demo.add_argument("--duration", type=float, default=60, help="seconds; 0 runs until Ctrl-C")
    demo.add_argument("--rate", type=float, default=40, help="intents per second")
    demo.add_argument("--seed", type=int, default=None, help="make the generated mix repeatable")
    demo.add_argument(
        "--to",
        choices=("inbox", "stream"),
        default="inbox",
        help="drop intents into the inbox, or add them to the Redis stream ([intake.redis])",
    )

    report = commands.add_parser("report", help="outcomes, venue shares and savings from SQL")
    report.add_argument("--json", action="store_true")

    keygen = commands.add_parser("keygen", help="write a new Solana CLI keypair file (mode 0600)")
    keygen.add_argument("--outfile", type=Path, required=True)
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    wallet = commands.add_parser("wallet", help="the wallet registry").add_subparsers(
        dest="wallet_command", required=True
    )
    add = wallet.add_parser("add", help="register or update a wallet (no restart needed)")
    add.add_argument("pubkey")
    add.add_argument(
        "--keypair", default="", help="path of the wallet's keypair file, if held here"
    )
    add.add_argument("--max-notional-usd", type=_decimal, default=Decimal(100_000))
    add.add_argument("--daily-notional-usd", type=_decimal, default=Decimal(1_000_000))
    add.add_argument(
        "--pairs", default="", help="comma-separated, e.g. SOL/USDC,SOL/USDT (default all)"
    )
    listing = wallet.add_parser("list", help="registered wallets")
    listing.add_argument("--json", action="store_true")

    intent = commands.add_parser(
        "intent", help="create, verify and show intent files"
    ).add_subparsers(dest="intent_command", required=True)
    new = intent.add_parser("new", help="sign an intent and drop it into the inbox")
    new.add_argument("--keypair", type=Path, required=True)
    new.add_argument("--sell", required=True, help="symbol or mint")
    new.add_argument("--buy", required=True, help="symbol or mint")
    new.add_argument("--amount", type=_decimal, required=True, help="in units of the sold token")
    limit = new.add_mutually_exclusive_group()
    limit.add_argument("--min-out", type=_decimal, help="minimum to receive, in bought-token units")
    limit.add_argument("--max-slippage-bps", type=int)
    new.add_argument("--ttl", type=int, default=300, help="seconds until the intent expires")
    new.add_argument(
        "--nonce", type=int, default=None, help="default: microseconds since the epoch"
    )
    new.add_argument("--venues", default="", help="comma-separated subset of jupiter,otc,localdex")
    where = new.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=None, help="folder (default: the inbox)")
    where.add_argument(
        "--queue",
        metavar="REDIS_URL",
        nargs="?",
        const="",
        help="add it to a Redis stream instead; without a URL, intake.redis.url (which keeps a "
        "password off the command line)",
    )
    new.add_argument("--stream", help="with --queue: the stream (default intake.redis.stream)")
    verify = intent.add_parser("verify", help="check an intent file's signature and schema")
    verify.add_argument("file", type=Path)
    show = intent.add_parser("show", help="pretty-print an intent file")
    show.add_argument("file", type=Path)

    localnet = commands.add_parser(
        "localnet",
        help="serve the local cluster over JSON-RPC on loopback (a small test validator)",
    )
    localnet.add_argument("--port", type=int, default=8899)
    localnet.add_argument("--host", default="127.0.0.1")

    prices = commands.add_parser(
        "prices", help="USD prices from the configured sources, with failover"
    )
    prices.add_argument("--json", action="store_true")

    quote = commands.add_parser(
        "quote",
        help="every venue's quote and the allocation the router would fill; nothing executes",
    )
    quote.add_argument("--sell", required=True, help="symbol or mint")
    quote.add_argument("--buy", required=True, help="symbol or mint")
    quote.add_argument("--amount", type=_decimal, required=True, help="in units of the sold token")
    quote.add_argument(
        "--max-slippage-bps", type=int, default=None, help="default: intake.default_slippage_bps"
    )
    quote.add_argument("--json", action="store_true")

    tokens = commands.add_parser("tokens", help="the configured cluster's tokens")
    tokens.add_argument("--json", action="store_true")

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or ("warning" if args.command == "demo" else "info")
    configure_logging(level=level, json=True if args.log_json else None)
    try:
        if args.command == "keygen":
            return _keygen(args)
        config = load_config(args.config, home=args.home)
        return _dispatch(args, config)
    except (ConfigError, UsageError, KeyFileError) as exc:
        print(f"otc-agent: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"otc-agent: cannot reach the database ({exc})", file=sys.stderr)
        return 3
    except ClusterUnavailable as exc:
        print(f"otc-agent: cannot reach the cluster ({exc})", file=sys.stderr)
        return 3
    except SettlementInDoubt as exc:
        print(
            f"otc-agent: a sent settlement awaits the cluster ({exc}); nothing was recorded "
            "for it, and the next start settles it by its signature",
            file=sys.stderr,
        )
        return 3


def _dispatch(args: argparse.Namespace, config: AgentConfig) -> int:
    command = args.command
    if command == "run":
        return asyncio.run(_run(config, once=args.once, allow_mainnet_send=args.allow_mainnet_send))
    if command == "demo":
        from agent.demo import run_demo

        if args.to == "stream" and not config.intake.redis.enabled:
            raise UsageError("--to stream needs [intake.redis] enabled = true")
        if _sends_on_mainnet(config):
            # The demo signs generated intents with generated wallets: never with real funds.
            raise ConfigError(
                config.source_dir,
                "execution.mode",
                "the demo never sends on mainnet-beta; use dry-run or paper",
            )
        return asyncio.run(
            run_demo(
                config,
                duration=args.duration,
                rate=args.rate,
                seed=args.seed,
                to_stream=args.to == "stream",
            )
        )
    if command == "report":
        return asyncio.run(_report(config, as_json=args.json))
    if command == "wallet":
        return asyncio.run(_wallet(config, args))
    if command == "intent":
        return _intent(config, args)
    if command == "localnet":
        return asyncio.run(_localnet(config, args.host, args.port))
    if command == "prices":
        return asyncio.run(_prices(config, as_json=args.json))
    if command == "tokens":
        return _tokens(config, as_json=args.json)
    if command == "quote":
        from agent.quote_view import QuoteRefused, quote_trade

        try:
            return asyncio.run(
                quote_trade(
                    config,
                    sell=args.sell,
                    buy=args.buy,
                    amount=args.amount,
                    max_slippage_bps=args.max_slippage_bps,
                    as_json=args.json,
                )
            )
        except QuoteRefused as exc:
            raise UsageError(str(exc)) from None
    if command == "db":
        return asyncio.run(_db_upgrade(config))
    raise UsageError(f"unknown command {command}")


def _keygen(args: argparse.Namespace) -> int:
    keypair = generate_keypair_file(args.outfile, overwrite=args.force)
    print(f"wrote {args.outfile} (mode 0600) for {keypair.pubkey()}")
    return 0


def _sends_on_mainnet(config: AgentConfig) -> bool:
    return config.cluster.name == "mainnet-beta" and config.execution.mode == "send"


def _check_mode(config: AgentConfig, *, allow_mainnet_send: bool) -> None:
    """Sending on mainnet takes two switches: the config flag and the command-line flag."""
    execution = config.execution
    if _sends_on_mainnet(config) and not (execution.allow_mainnet_send and allow_mainnet_send):
        raise ConfigError(
            config.source_dir,
            "execution.allow_mainnet_send",
            "send mode on mainnet-beta needs execution.allow_mainnet_send = true "
            "and --allow-mainnet-send",
        )


async def _run(config: AgentConfig, *, once: bool, allow_mainnet_send: bool = False) -> int:
    from agent.daemon import Daemon

    _check_mode(config, allow_mainnet_send=allow_mainnet_send)
    limit_malloc_arenas()  # before any worker thread exists
    runtime = build_runtime(config, registry=CollectorRegistry())
    daemon = Daemon(runtime, serve_metrics=not once)
    if not once:
        daemon.install_signal_handlers()
    stats = await daemon.run(once=once)
    print(json.dumps(stats.__dict__))
    return 0


async def _with_store(config: AgentConfig) -> Store:
    store = Store.from_url(config.database_url, connect_timeout_s=config.database.connect_timeout_s)
    await store.upgrade()
    return store


async def _report(config: AgentConfig, *, as_json: bool) -> int:
    from agent.report import build_report, render_table

    store = await _with_store(config)
    try:
        report = await store.read(build_report)
    finally:
        await store.aclose()
    print(json.dumps(report, indent=2) if as_json else render_table(report))
    return 0


async def _wallet(config: AgentConfig, args: argparse.Namespace) -> int:
    from agent.store import wallets

    store = await _with_store(config)
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


def _intent(config: AgentConfig, args: argparse.Namespace) -> int:
    if args.intent_command == "new":
        return _intent_new(config, args)
    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        intent, message, signature = verify_submission(raw)
    except IntentRejected as rejection:
        print(f"{rejection.reason.value}: {rejection.detail}")
        return 1
    if args.intent_command == "verify":
        print(f"ok: intent {intent.id} signed by {intent.wallet}")
        return 0
    document: dict[str, Any] = {"signature": signature, "message": json.loads(message)}
    tokens = build_tokens(config)
    sell, buy = tokens.by_mint(intent.sell_mint), tokens.by_mint(intent.buy_mint)
    if sell is not None and buy is not None:
        # The same amounts in token units, for people; the signed message keeps base units.
        document["readable"] = {
            "sell": f"{from_base_units(intent.amount, sell.decimals)} {sell.symbol}",
            "min_out": None
            if intent.min_out is None
            else f"{from_base_units(intent.min_out, buy.decimals)} {buy.symbol}",
        }
    print(json.dumps(document, indent=2))
    return 0


def _intent_new(config: AgentConfig, args: argparse.Namespace) -> int:
    tokens = build_tokens(config)
    try:
        sell, buy = tokens.require(args.sell), tokens.require(args.buy)
        amount = to_base_units(args.amount, sell.decimals)
        min_out = to_base_units(args.min_out, buy.decimals) if args.min_out is not None else None
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    venues = tuple(v.strip() for v in args.venues.split(",") if v.strip()) or None
    keypair = load_keypair(args.keypair)
    draft = IntentDraft(
        cluster=config.cluster.name,
        sell_mint=sell.mint,
        buy_mint=buy.mint,
        amount=amount,
        not_after=int(time.time()) + args.ttl,
        nonce=args.nonce if args.nonce is not None else new_nonce(),
        min_out=min_out,
        max_slippage_bps=args.max_slippage_bps,
        venues=venues,
    )
    intent_id, envelope = sign_intent(keypair, draft)
    if args.queue is not None:
        stream = args.stream or config.intake.redis.stream
        url = args.queue or config.intake.redis.url
        entry_id = asyncio.run(_enqueue(url, stream, envelope))
        print(f"{stream} {entry_id} {intent_id}")
        return 0
    out = args.out or (config.intake_root / "inbox")
    print(write_intent(out, intent_id, envelope))
    return 0


async def _enqueue(url: str, stream: str, envelope: bytes) -> str:
    import redis.asyncio as aioredis

    from agent.intake.stream import StreamUnavailable, submit

    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        return await submit(client, stream, envelope)
    except StreamUnavailable as exc:
        raise UsageError(f"cannot add to {stream}: {exc}") from None
    finally:
        await client.aclose()


async def _localnet(config: AgentConfig, host: str, port: int) -> int:
    """Seed a LiteSVM from the books and wallets in SQL, as the daemon would, and serve it."""
    from onchain.localnet import LocalnetServer

    runtime = build_runtime(config, registry=CollectorRegistry())
    await runtime.start_books()
    chain = await runtime.local_chain()
    await runtime.aclose()
    # The clock ticks so that blockhashes age and confirmations can expire, as on a validator.
    server = LocalnetServer(chain.cluster, host, port, slot_time_s=0.4)  # type: ignore[arg-type]
    await server.start()
    print(
        f"localnet on {server.url} (Ctrl-C to stop); point the daemon at it with "
        f"OTC_AGENT__CLUSTER__URL={server.url}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.aclose()
    return 0


async def _prices(config: AgentConfig, *, as_json: bool) -> int:
    """One refresh through the configured sources, then what the oracle would serve."""
    import httpx

    from agent.runtime import build_oracle

    tokens = build_tokens(config)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        oracle = build_oracle(config, tokens, http)
        await oracle.refresh()
        rows = []
        for token in tokens:
            point = await oracle.price(token)
            change = getattr(point, "change_24h", None)
            rows.append(
                {
                    "token": token.symbol,
                    "usd": str(point.usd),
                    "source": point.source,
                    "change_24h_pct": None if change is None else str(change),
                    "age_s": round(time.time() - point.observed_at, 1),
                    "stale": bool(getattr(point, "stale", False)),
                }
            )
        snapshot = oracle.snapshot()
        await oracle.aclose()
    health = {name: state.status for name, state in snapshot.sources.items()}
    if as_json:
        print(json.dumps({"prices": rows, "sources": health}, indent=2))
        return 0
    print(f"{'token':<6} {'USD':>14} {'24h %':>8}  {'source':<10} {'age s':>8}")
    for row in rows:
        change = row["change_24h_pct"] or "-"
        print(
            f"{row['token']:<6} {row['usd']:>14} {change:>8}  {row['source']:<10} {row['age_s']:>8}"
            f"{'  stale' if row['stale'] else ''}"
        )
    print("sources: " + ", ".join(f"{name} {status}" for name, status in health.items()))
    return 0


def _tokens(config: AgentConfig, *, as_json: bool) -> int:
    rows: list[dict[str, Any]] = [
        {"symbol": t.symbol, "mint": t.mint, "decimals": t.decimals} for t in build_tokens(config)
    ]
    if as_json:
        print(json.dumps({"cluster": config.cluster.name, "tokens": rows}, indent=2))
    else:
        print(f"cluster {config.cluster.name}")
        for row in rows:
            print(f"  {row['symbol']:<6} {row['decimals']:>2}  {row['mint']}")
    return 0


async def _db_upgrade(config: AgentConfig) -> int:
    store = await _with_store(config)
    await store.aclose()
    print("database is at the latest schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
